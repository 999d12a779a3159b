"""Auxiliary concept supervision: what a study's visual tokens must carry (training only, never exported).

Learning to see only through the next-token loss is slow and memorises images on a dataset
this small: the decoder learns the answer prior and the vision encoder gets a weak signal.
So every study with known facts also gets a multi-label target over named concepts, and a
linear head on its K visual tokens is trained with a masked binary cross-entropy beside the
language loss. The concepts are the same facts the text targets state (docs/training.md):

- SLAKE images: ``modality:``, ``region:``, ``organ:`` (detection.json labels and "Does the
  picture contain X? Yes"; an image with boxes makes every other organ a known 0), ``abnormal``;
- phantom mammogram sets: ``mammo:{side} {type}`` and ``mammo:{side} {type} {quadrant}``;
- phantom neck CTs: ``ct:{side} nodule`` and ``ct:{side} nodule {pole}``.

Unknown facts are masked out, never guessed as 0. VQA-RAD images carry no concepts.

Phantom findings also have boxes, so their patches get a dense target too (``finding_patches``):
a linear read-out of every patch token must say whether the patch holds a finding. That local
signal teaches the encoder what a mass, a calcification cluster or a nodule looks like long
before the study-level read-out has learnt where to look.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radfound.training.phantoms.ct_neck import POLES
from radfound.training.phantoms.mammo import FINDING_TYPES, QUADRANTS

#: A study's known facts: concept name -> 1.0 (present) or 0.0 (absent).
Facts = dict[str, float]


def slake_facts(rep, organ_vocab: set[str]) -> Facts:
    """Known facts of one SLAKE ImageReport; ``organ_vocab`` is every organ label seen in the pool."""
    facts: Facts = {f"modality:{rep.modality.split(' ')[0].lower()}": 1.0}
    if rep.region:
        facts[f"region:{rep.region.lower()}"] = 1.0
    organs = {o.lower() for o in rep.organs}
    for organ in organs:
        facts[f"organ:{organ}"] = 1.0
    if rep.boxes:  # detection.json lists every annotated organ of the image: the rest are known absent
        for organ in organ_vocab - organs:
            facts[f"organ:{organ}"] = 0.0
    if rep.abnormal is not None:
        facts["abnormal"] = 1.0 if rep.abnormal else 0.0
    return facts


def phantom_facts(kind: str, findings, sides: tuple[str, ...] = ("right", "left")) -> Facts:
    """Every finding slot of the imaged ``sides`` of a phantom study, present or absent (the phantom's ground
    truth is complete there); a breast not imaged has no slots, so they stay unknown, not absent."""
    present = {(f.finding, f.side, f.where) for f in findings}
    facts: Facts = {}
    for side in sides:
        if kind == "mammo":
            for ftype in FINDING_TYPES:
                facts[f"mammo:{side} {ftype}"] = float(any(p[:2] == (ftype, side) for p in present))
                for quad in QUADRANTS:
                    facts[f"mammo:{side} {ftype} {quad}"] = float((ftype, side, quad) in present)
        else:
            facts[f"ct:{side} nodule"] = float(any(p[1] == side for p in present))
            for pole in POLES:
                facts[f"ct:{side} nodule {pole}"] = float(("thyroid nodule", side, pole) in present)
    return facts


def finding_patches(boxes, inputs, side: int, patch: int) -> np.ndarray:
    """(N, L) 0/1: the patches of each model-input image that a finding box touches.

    ``boxes`` are (view, x0, y0, x1, y1) in original pixels (for CT, ``view`` is the axial slice
    index: every slab holding that slice or its neighbours is marked, as nodules span slices)."""
    grid = side // patch
    n = inputs.pixel_values.shape[0]
    out = np.zeros((n, grid, grid), np.float32)
    for view, x0, y0, x1, y1 in boxes:
        if inputs.slabs is None:
            images = [int(view)]
        else:
            images = [i for i, (a, b) in enumerate(inputs.slabs) if a <= view + 1 and view - 1 < b]
        for i in images:
            (ax, ay), (bx, by) = inputs.to_input(x0, y0, i), inputs.to_input(x1, y1, i)
            c0, c1 = (int(np.clip(v // patch, 0, grid - 1)) for v in (min(ax, bx), max(ax, bx) - 1e-6))
            r0, r1 = (int(np.clip(v // patch, 0, grid - 1)) for v in (min(ay, by), max(ay, by) - 1e-6))
            out[i, r0:r1 + 1, c0:c1 + 1] = 1.0
    return out.reshape(n, grid * grid)


class ConceptTargets:
    """Dense (value, mask) vectors over a fixed concept vocabulary for the studies that have facts.

    Exclusive groups (``modality:``, ``region:``) are completed with known zeros: an image is one modality.
    """

    def __init__(self, facts: dict[str, Facts], min_count: int = 5, patches: dict[str, np.ndarray] | None = None,
                 weights: dict[str, float] | None = None):
        self.patches = patches or {}  # study key -> (N, L) finding-patch targets (phantoms)
        counts: dict[str, int] = {}
        for f in facts.values():
            for name, v in f.items():
                counts[name] = counts.get(name, 0) + int(v > 0)
        self.names = sorted(n for n, c in counts.items() if c >= min_count)
        index = {n: i for i, n in enumerate(self.names)}
        groups = {g: [n for n in self.names if n.startswith(g)] for g in ("modality:", "region:")}
        self.targets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for key, f in facts.items():
            value = np.zeros(len(self.names), np.float32)
            mask = np.zeros(len(self.names), np.float32)
            for prefix, members in groups.items():
                if any(n.startswith(prefix) for n in f):
                    mask[[index[n] for n in members]] = 1.0
            for name, v in f.items():
                if name in index:
                    value[index[name]], mask[index[name]] = v, 1.0
            if mask.any():
                self.targets[key] = (value, mask)
        # concept-name prefix -> weight of its entries in the loss (e.g. {"disease:": 4}: a few diseases among
        # dozens of easy organ and modality facts would otherwise hardly move the encoder)
        self.weight = np.ones(len(self.names), np.float32)
        for prefix, w in (weights or {}).items():
            self.weight[[i for i, n in enumerate(self.names) if n.startswith(prefix)]] = float(w)

    def __len__(self) -> int:
        return len(self.names)

    def loss(self, head: "ConceptHead", feats: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Masked BCE over the studies in ``feats`` that have targets; None when none has."""
        keys = [k for k in feats if k in self.targets]
        if not keys:
            return None
        logits = head(torch.stack([feats[k] for k in keys]))
        value = torch.from_numpy(np.stack([self.targets[k][0] for k in keys])).to(logits.device)
        mask = torch.from_numpy(np.stack([self.targets[k][1] for k in keys]) * self.weight).to(logits.device)
        bce = F.binary_cross_entropy_with_logits(logits, value, reduction="none")
        return (bce * mask).sum() / mask.sum().clamp(min=1.0)

    def patch_loss(self, head: "ConceptHead", patches: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Class-balanced BCE of the finding-patch read-out (mean over finding patches and over the others,
        averaged: findings cover a few patches of hundreds); None when no study in ``patches`` has targets."""
        keys = [k for k in patches if k in self.patches]
        if not keys or head.patch is None:
            return None
        logits = head.patch(torch.cat([patches[k].reshape(-1, patches[k].shape[-1]) for k in keys]))[:, 0]
        target = torch.from_numpy(np.concatenate([self.patches[k].reshape(-1) for k in keys])).to(logits.device)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        pos, neg = target > 0.5, target <= 0.5
        parts = [bce[m].mean() for m in (pos, neg) if bool(m.any())]
        return sum(parts) / len(parts)


class ConceptHead(nn.Module):
    """Linear read-outs: concept logits from all K visual tokens (K x hidden -> concepts) and, when
    ``patch_dim`` is given, a finding logit per patch token (vision width -> 1)."""

    def __init__(self, num_tokens: int, hidden: int, num_concepts: int, patch_dim: int | None = None):
        super().__init__()
        self.linear = nn.Linear(num_tokens * hidden, num_concepts)
        self.patch = nn.Linear(patch_dim, 1) if patch_dim else None

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.linear(feats.flatten(1))
