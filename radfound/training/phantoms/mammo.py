"""Synthetic 4-view mammogram sets (L-CC, L-MLO, R-CC, R-MLO) with masses and calcifications.

Geometry (documented in docs/training.md): each view is 160 x 128 pixels at 0.6 mm.
The chest wall is at the left image edge for left-breast views and at the right edge
for right-breast views (the usual back-to-back hanging). Rows run lateral (top) to
medial (bottom) in CC views and superior (top) to inferior (bottom) in MLO views, so a
finding's quadrant (upper/lower x inner/outer) fixes its row in MLO and CC, and its
depth from the chest wall fixes its column in both. MLO views add a pectoral muscle.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from radfound.study.model import MAMMO_VIEWS, SourceRef, Study, View
from radfound.training.phantoms.base import SYNTHETIC_NOTE, Phantom, PhantomFinding, smooth_noise

ROWS, COLS, SPACING_MM = 160, 128, 0.6
QUADRANTS = ("upper outer", "upper inner", "lower outer", "lower inner")
FINDING_TYPES = ("mass", "calcifications")


def _breast_mask(rows: int, cols: int, chest_left: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-ellipse breast mask plus per-pixel depth fraction (0 chest wall, 1 nipple) and row offset."""
    r = np.arange(rows)[:, None].astype(np.float32)
    c = np.arange(cols)[None, :].astype(np.float32)
    depth_px = c if chest_left else (cols - 1 - c)
    a, b = 0.82 * cols, 0.44 * rows
    depth = depth_px / a
    off = (r - rows / 2) / b
    mask = depth**2 + off**2 <= 1.0
    return mask, depth + 0 * off, off + 0 * depth


def make_mammo_set(seed: int, lesion_scale: float = 1.0) -> Phantom:
    """One synthetic 4-view screening set with 0-2 findings per breast; deterministic for ``seed``.

    ``lesion_scale`` multiplies the findings' contrast and nothing else (the random draws are the same), so
    ``lesion_scale=0`` is the same breasts before the findings appeared: a prior with a change we control. At 0
    the set has no findings and a normal report."""
    rng = np.random.default_rng(seed)
    findings: list[PhantomFinding] = []
    plan: dict[str, list[tuple[str, str, float, float, float]]] = {}
    for side in ("right", "left"):
        n = rng.choice([0, 1, 2], p=[0.45, 0.43, 0.12])
        types = list(rng.permutation(FINDING_TYPES)[:n])
        quads = list(rng.permutation(QUADRANTS)[:n])
        plan[side] = []
        for ftype, quad in zip(types, quads):
            depth = float(rng.uniform(0.45, 0.8))
            spread = float(rng.uniform(0.3, 0.65))  # distance from the breast's mid-line, fraction of half-height
            size = float(rng.uniform(6, 15)) if ftype == "mass" else float(rng.uniform(4, 8))
            plan[side].append((str(ftype), str(quad), depth, spread, size))

    views: list[View] = []
    boxes: dict[tuple[str, str], list] = {}
    for index, code in enumerate(MAMMO_VIEWS):
        side = "left" if code.startswith("L") else "right"
        chest_left = side == "left"
        mlo = code.endswith("MLO")
        mask, depth, off = _breast_mask(ROWS, COLS, chest_left)
        img = np.where(mask, 0.22, 0.0).astype(np.float32)
        dense = np.clip(smooth_noise(rng, (ROWS, COLS), 4.0), 0, None) * 0.12 * np.clip(1.1 - depth, 0, 1)
        img += np.where(mask, dense + 0.03 * smooth_noise(rng, (ROWS, COLS), 1.0), 0)
        if mlo:  # pectoral muscle: a triangle at the chest wall, upper part of the image
            row = np.arange(ROWS)[:, None] / ROWS
            pect = (depth * 0.82 < 0.32 * (1 - row / 0.55)) & mask
            img = np.where(pect, 0.5 + 0.02 * smooth_noise(rng, (ROWS, COLS), 2.0), img)
        half_h = 0.44 * ROWS
        for ftype, quad, d, spread, size in plan[side]:
            upper, outer = quad.startswith("upper"), quad.endswith("outer")
            # CC: lateral (outer) at the top; MLO: superior (upper) at the top.
            up = outer if not mlo else upper
            h = half_h * np.sqrt(max(1 - d**2, 0.05))
            rc = ROWS / 2 + (-1 if up else 1) * spread * h
            cc = d * 0.82 * COLS if chest_left else COLS - 1 - d * 0.82 * COLS
            rad = size / 2 / SPACING_MM
            rr, cg = np.mgrid[0:ROWS, 0:COLS]
            if ftype == "mass":
                dist = np.hypot(rr - rc, cg - cc) / rad
                edge = 1 + 0.15 * smooth_noise(rng, (ROWS, COLS), 3.0)
                img += 0.3 * lesion_scale * np.clip((edge - dist) / 0.25, 0, 1)
                box = (cc - rad, rc - rad, cc + rad, rc + rad)
            else:
                pts = rng.normal(0, rad / 2, size=(int(rng.integers(6, 13)), 2))
                for dy, dx in pts:
                    y, x = int(round(rc + dy)), int(round(cc + dx))
                    img[max(y, 0):y + 2, max(x, 0):x + 2] += 0.6 * lesion_scale
                box = (cc + pts[:, 1].min() - 1, rc + pts[:, 0].min() - 1, cc + pts[:, 1].max() + 2, rc + pts[:, 0].max() + 2)
            x0, y0, x1, y1 = box
            boxes.setdefault((side, ftype), []).append(
                (index, max(x0, 0.0), max(y0, 0.0), min(x1, COLS - 1.0), min(y1, ROWS - 1.0))
            )
        img = np.clip(img + 0.01 * rng.standard_normal(img.shape), 0, 1) * 4095.0
        views.append(
            View(
                pixels=img.astype(np.float32),
                spacing=(SPACING_MM, SPACING_MM),
                view=code,
                laterality=code[0],
                source=SourceRef(path=f"phantom://mammo/{seed}/{code}"),
            )
        )

    for side in ("right", "left") if lesion_scale > 0 else ():
        for ftype, quad, d, spread, size in plan[side]:
            findings.append(
                PhantomFinding(ftype, side, quad, round(size, 1), tuple(b for b in boxes[(side, ftype)]))
            )
    findings_text, impression = mammo_report(findings)
    study = Study(
        kind="mammo",
        views=views,
        metadata={"modality": "MG", "body_part": "BREAST", "synthetic": "true", "description": SYNTHETIC_NOTE},
        sources=[v.source for v in views],
    )
    return Phantom(study, findings, findings_text, impression, seed)


def one_side(phantom: Phantom, side: str) -> Phantom:
    """The same phantom with only the views of ``side`` ("right" or "left"): its findings on that side (box
    view indices renumbered to the kept views) and a report about that breast alone. Why: a real set can
    lack views, and a draft must not describe a breast nobody imaged (``radfound eval report --views``)."""
    if side not in ("right", "left"):
        raise ValueError(f"side must be right or left, not {side!r}")
    kept = [i for i, v in enumerate(phantom.study.views) if v.view[0] == side[0].upper()]
    index = {old: new for new, old in enumerate(kept)}
    findings = [dataclasses.replace(f, boxes=tuple((index[b[0]], *b[1:]) for b in f.boxes if b[0] in index))
                for f in phantom.findings if f.side == side]
    views = [phantom.study.views[i] for i in kept]
    study = dataclasses.replace(phantom.study, views=views, sources=[v.source for v in views], warnings=[])
    findings_text, impression = mammo_report(findings, sides=(side,))
    return dataclasses.replace(phantom, study=study, findings=findings, findings_text=findings_text,
                               impression=impression)


def mammo_report(findings: list[PhantomFinding], sides: tuple[str, ...] = ("right", "left")) -> tuple[str, str]:
    """The templated Findings and Impression for a set of breast findings (right breast first), about the
    breasts in ``sides`` only."""
    sentences = ["Scattered fibroglandular tissue."]
    impressions = []
    for side in sides:
        mine = [f for f in findings if f.side == side]
        if not mine:
            sentences.append(f"{side.capitalize()} breast: no mass or suspicious calcifications.")
        for f in mine:
            if f.finding == "mass":
                sentences.append(f"{side.capitalize()} breast: a {round(f.size_mm):d} mm mass in the {f.where} quadrant.")
                impressions.append(f"{side.capitalize()} breast mass, {f.where} quadrant.")
            else:
                sentences.append(f"{side.capitalize()} breast: grouped calcifications in the {f.where} quadrant.")
                impressions.append(f"{side.capitalize()} breast calcifications, {f.where} quadrant.")
    if impressions:
        impression = " ".join(impressions) + " BI-RADS 0: additional imaging recommended."
    else:
        impression = "No mammographic evidence of malignancy. BI-RADS 1."
    return " ".join(sentences), impression
