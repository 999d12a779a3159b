"""Synthetic non-contrast neck CT volumes with thyroid nodules.

Geometry (documented in docs/training.md): 24 axial slices of 80 x 80 voxels,
spacing (3.0, 1.5, 1.5) mm, identity direction in LPS: column index i runs to the
patient's left (shown on the viewer's right, radiological convention), row index j
runs posterior, slice index k runs superior. Tissues in Hounsfield units: air -1000,
fat -100, muscle 45, thyroid 110 (iodine-rich), nodule 20 (hypodense) inside a 2 mm rim of
thyroid (a nodule enlarges its lobe), bone 350/800.
"""

from __future__ import annotations

import numpy as np

from radfound.study.model import SourceRef, Study, Volume
from radfound.training.phantoms.base import SYNTHETIC_NOTE, Phantom, PhantomFinding, smooth_noise

SLICES, ROWS, COLS = 24, 80, 80
SPACING = (3.0, 1.5, 1.5)  # (slice, row, col) mm
THYROID_SLICES = (6, 18)  # inferior..superior extent of the lobes
POLES = ("lower pole", "mid", "upper pole")
NODULE_HU = 20.0  # hypodense (colloid/cystic-like) against 110 HU thyroid
RIM_MM = 2.0  # thyroid tissue around a nodule: nodules sit inside an enlarged lobe, not in the strap muscles


def _ellipse(rr, cc, r0, c0, ra, ca):
    return ((rr - r0) / ra) ** 2 + ((cc - c0) / ca) ** 2 <= 1.0


def make_neck_ct(seed: int) -> Phantom:
    """One synthetic neck CT with 0-2 thyroid nodules; deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    n = rng.choice([0, 1, 2], p=[0.4, 0.45, 0.15])
    slots = [(s, p) for s in ("right", "left") for p in POLES]
    chosen = [slots[i] for i in rng.permutation(len(slots))[:n]]
    if n == 2 and chosen[0][0] == chosen[1][0]:  # two nodules: one per lobe keeps them apart
        chosen[1] = ("left" if chosen[0][0] == "right" else "right", chosen[1][1])

    rr, cc = np.mgrid[0:ROWS, 0:COLS].astype(np.float32)
    vol = np.full((SLICES, ROWS, COLS), -1000.0, dtype=np.float32)
    cx = COLS / 2 + rng.uniform(-2, 2)
    ry, rx = rng.uniform(27, 31), rng.uniform(33, 37)
    lobe_scale = rng.uniform(0.85, 1.15)
    k0, k1 = THYROID_SLICES
    for k in range(SLICES):
        sl = vol[k]
        body = _ellipse(rr, cc, ROWS / 2, cx, ry, rx)
        sl[body] = -100.0
        sl[_ellipse(rr, cc, ROWS / 2, cx, ry - 4, rx - 4)] = 45.0
        sl[_ellipse(rr, cc, 52, cx, 9, 9)] = 800.0  # vertebral body cortex
        sl[_ellipse(rr, cc, 52, cx, 7.5, 7.5)] = 350.0
        sl[_ellipse(rr, cc, 64, cx, 4, 4)] = 20.0  # spinal canal
        for s in (-1, 1):
            sl[_ellipse(rr, cc, 34, cx + s * 20, 3, 3)] = 50.0  # carotid arteries
        sl[_ellipse(rr, cc, 38, cx + 2, 2.5, 3)] = 30.0  # oesophagus
        if k0 <= k < k1:  # thyroid lobes (ellipsoids tapering at both poles) and isthmus
            t = (k - (k0 + k1 - 1) / 2) / ((k1 - k0) / 2)
            taper = np.sqrt(max(1 - t**2, 0.15))
            for s in (-1, 1):
                sl[_ellipse(rr, cc, 30, cx + s * 11, 6 * taper * lobe_scale, 4.5 * taper * lobe_scale)] = 110.0
            if abs(t) < 0.35:
                sl[(np.abs(rr - 22) <= 1.2) & (np.abs(cc - cx) <= 8)] = 110.0
        sl[_ellipse(rr, cc, 28, cx, 6, 6)] = 45.0  # tracheal wall
        sl[_ellipse(rr, cc, 28, cx, 4.5, 4.5)] = -1000.0  # tracheal air

    findings: list[PhantomFinding] = []
    kk = np.arange(SLICES, dtype=np.float32)[:, None, None]
    for side, pole in chosen:
        size = float(rng.uniform(8, 16))  # reportable incidental nodules (ACR: work-up from 10-15 mm)
        rad = size / 2
        third = (k1 - k0) / 3
        kc = k0 + third * (POLES.index(pole) + 0.5) + rng.uniform(-0.7, 0.7)
        col = cx + (-11 if side == "right" else 11) + rng.uniform(-1.5, 1.5)  # patient right = low i
        row = 30 + rng.uniform(-1.5, 1.5)
        dist = np.sqrt(((kk - kc) * SPACING[0]) ** 2 + ((rr - row) * SPACING[1]) ** 2 + ((cc - col) * SPACING[2]) ** 2)
        vol = np.where(dist <= rad + RIM_MM, 110.0, vol)  # the nodule expands its lobe: a rim of thyroid
        vol = np.where(dist <= rad, NODULE_HU, vol)
        rp = rad / SPACING[1]
        findings.append(
            PhantomFinding(
                "thyroid nodule", side, pole, round(size, 1),
                ((int(round(kc)), col - rp, row - rp, col + rp, row + rp),),
            )
        )
    vol = vol + 12.0 * smooth_noise(rng, vol.shape, 0.7)
    volume = Volume(array=vol.astype(np.float32), spacing=SPACING, origin=(-60.0, -60.0, -36.0))
    findings_text, impression = neck_ct_report(findings)
    study = Study(
        kind="ct",
        volume=volume,
        metadata={"modality": "CT", "body_part": "NECK", "synthetic": "true", "description": SYNTHETIC_NOTE},
        sources=[SourceRef(path=f"phantom://ct/{seed}")],
    )
    return Phantom(study, findings, findings_text, impression, seed)


def neck_ct_report(findings: list[PhantomFinding]) -> tuple[str, str]:
    """The templated Findings and Impression for a set of thyroid nodules (right lobe first)."""
    sentences, impressions = [], []
    for side in ("right", "left"):
        mine = sorted((f for f in findings if f.side == side), key=lambda f: POLES.index(f.where))
        if not mine:
            sentences.append(f"The {side} thyroid lobe is unremarkable.")
        for f in mine:
            where = "mid portion" if f.where == "mid" else f.where
            sentences.append(f"A {round(f.size_mm):d} mm hypodense nodule in the {where} of the {side} thyroid lobe.")
            impressions.append(f"{side.capitalize()} thyroid lobe nodule ({round(f.size_mm):d} mm).")
    sentences.append("The trachea is midline. No cervical lymphadenopathy.")
    if impressions:
        impression = " ".join(impressions) + " Thyroid ultrasound recommended."
    else:
        impression = "Normal thyroid gland."
    return " ".join(sentences), impression
