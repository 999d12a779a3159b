"""The training pool: every (study, instruction, target) pair of the staged recipe.

Tasks: ``vqa`` (VQA-RAD + SLAKE questions, answered in the question's language),
``caption`` and ``report`` (derived from SLAKE, see slake_reports), ``grounding``
(SLAKE organ/lesion boxes), ``phantom_grounding`` (phantom mammogram mass and
calcification boxes: a task of its own, so the many phantoms do not crowd SLAKE's
boxes out of the grounding share) and ``phantom`` (templated mammography and neck
CT reports). Studies are preprocessed once and shared by all
their samples.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from radfound.tasks.laterality_check import imaged_breasts
from radfound.tasks.prompts import grounding_prompt, report_instruction, report_target
from radfound.training.concepts import finding_patches, phantom_facts, slake_facts
from radfound.training.data.grounding import box_text, slake_grounding_pairs
from radfound.training.data.images import load_image_study
from radfound.training.data.slake_reports import derive_reports
from radfound.training.data.vqa import images_of, training_questions
from radfound.training.data.vqarad_rows import vqarad_rows
from radfound.training.inputs import Inputs, study_inputs
from radfound.training.phantoms import make_phantoms
from radfound.training.phantoms.mammo import one_side

#: Every task the pool can hold: the names a training mixture may use (``chest_report``: radfound-base only, its
#: chest X-ray reports, radfound.training.pretrained.pool).
TASKS = ("vqa", "caption", "report", "grounding", "phantom_grounding", "phantom", "chest_report")
#: Tasks whose targets are boxes: their studies are never moved geometrically by augmentation.
GROUNDING_TASKS = frozenset({"grounding", "phantom_grounding"})

#: The instruction used for captions (image-text alignment stage and caption evaluation).
CAPTION_INSTRUCTION = "Describe this image in one sentence."


@dataclass
class Pool:
    inputs: dict[str, Inputs] = field(default_factory=dict)  # study key -> model inputs
    samples: dict[str, list[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(list))
    # task -> [(study key, instruction, target)]
    texts: list[str] = field(default_factory=list)  # all text, for the tokenizer
    pretrain_keys: list[str] = field(default_factory=list)
    facts: dict[str, dict[str, float]] = field(default_factory=dict)  # study key -> known concepts (concepts.py)
    patches: dict = field(default_factory=dict)  # study key -> (N, L) finding-patch targets (phantoms)

    def add(self, task: str, key: str, instruction: str, target: str) -> None:
        self.samples[task].append((key, instruction, target))
        self.texts += [instruction, target]

    def counts(self) -> dict[str, int]:
        return {task: len(v) for task, v in sorted(self.samples.items())}


def _grounding_instruction(target: str) -> str:
    # grounding_prompt wraps the instruction in the chat turn; keep only the instruction text.
    return grounding_prompt(target, 0).split("\n", 2)[-1].rsplit("<|assistant|>", 1)[0].strip()


def phantom_counts(data: dict) -> dict[str, int]:
    """Phantoms to generate per kind: ``phantoms_per_kind`` is one number for both kinds or a
    ``{"mammo": n, "ct": m}`` mapping (procedural data is free, so the kind that overfits gets more)."""
    value = data.get("phantoms_per_kind", 0)
    if isinstance(value, dict):
        unknown = set(value) - {"mammo", "ct"}
        if unknown:
            raise ValueError(f"phantoms_per_kind: unknown phantom kind(s) {sorted(unknown)}; use mammo and ct")
        return {kind: int(value.get(kind, 0)) for kind in ("mammo", "ct")}
    return {"mammo": int(value), "ct": int(value)}


def mammo_one_side(data: dict, phantoms: list) -> list:
    """``data.mammo_one_side_share`` (0-1, default 0) of the mammogram phantoms reduced to one breast's views
    (side drawn per phantom, seeded by it), so the model learns to report on the imaged breast only: with
    4-view sets alone it copied a shown breast's findings onto the missing one (docs/evaluation.md)."""
    share = float(data.get("mammo_one_side_share", 0))
    if not 0 <= share <= 1:
        raise ValueError(f"mammo_one_side_share must be between 0 and 1, not {share}")
    out = []
    for ph in phantoms:
        rng = np.random.default_rng([ph.seed, 1])
        out.append(one_side(ph, ("left", "right")[int(rng.integers(2))]) if rng.random() < share else ph)
    return out


def build_pool(cfg: dict, side: int, log=print, patch: int = 16) -> Pool:
    data = cfg["data"]
    pool = Pool()
    vqa_all, slake_all = training_questions(data.get("vqarad_part", "train"), data.get("slake_splits", ["train"]))
    images = images_of(vqa_all + slake_all)  # training_images, from the questions read once
    if data.get("max_images"):
        keep = set(images[: data["max_images"]]) | set(images[-data["max_images"]:])
        images = [p for p in images if p in keep]
    wanted = set(images)
    log(f"preprocessing {len(images)} images at {side}px")
    for path in images:
        pool.inputs[str(path)] = study_inputs(load_image_study(path), side, cfg.get("preprocess"))
    pool.pretrain_keys = [str(p) for p in images]

    vqa_items = [it for it in vqa_all if it.image in wanted]
    slake_items = [it for it in slake_all if it.image in wanted]
    vqa_rows = vqarad_rows(vqa_items, data.get("vqarad_rows")) + [(it, it.question, it.answer) for it in slake_items]
    for it, question, answer in vqa_rows:
        pool.add("vqa", str(it.image), question, answer)

    reports = derive_reports(slake_items)
    organ_vocab = {o.lower() for rep in reports for o in rep.organs}
    for rep in reports:
        key = str(rep.image)
        pool.facts[key] = slake_facts(rep, organ_vocab)
        pool.add("caption", key, CAPTION_INSTRUCTION, rep.caption)
        if rep.has_report:
            pool.add("report", key, report_instruction("image"), report_target(rep.findings, rep.impression))
        inputs = pool.inputs[key]
        for target, answer in slake_grounding_pairs(rep.boxes, inputs.to_input, side):
            pool.add("grounding", key, _grounding_instruction(target), answer)

    counts = phantom_counts(data)
    for kind in ("mammo", "ct"):
        phantoms = make_phantoms(kind, counts[kind], seed=int(data.get("phantom_seed", 1)))
        for ph in mammo_one_side(data, phantoms) if kind == "mammo" else phantoms:
            key = f"phantom:{kind}:{ph.seed}"
            inputs = study_inputs(ph.study, side, cfg.get("preprocess"))
            pool.inputs[key] = inputs
            pool.pretrain_keys.append(key)
            pool.add("phantom", key, report_instruction(kind), report_target(ph.findings_text, ph.impression))
            sides = imaged_breasts(ph.study) if kind == "mammo" else ("right", "left")  # a one-breast set
            pool.facts[key] = phantom_facts(kind, ph.findings, sides)
            pool.patches[key] = finding_patches([b for f in ph.findings for b in f.boxes], inputs, side, patch)
            if kind == "mammo":
                for ftype in ("mass", "calcifications"):
                    corners = [b for f in ph.findings if f.finding == ftype for b in f.boxes]
                    if corners:
                        pool.add("phantom_grounding", key, _grounding_instruction(ftype),
                                 box_text(ftype, corners, inputs.to_input, side))
    log(f"training pool: {pool.counts()} over {len(pool.inputs)} studies")
    return pool
