"""Study -> model inputs for training, through the shared preprocessing when it is available.

The runtime engine preprocesses with ``radfound.preprocess.preprocess(study, config)``;
training must see exactly the same pixels, so it uses that function whenever it exists.
``fallback_inputs`` (plain resize, min-max scaling, CT soft-tissue window in 8 slabs) is
only used before the shared module lands and is recorded in the checkpoint's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from radfound.study.model import Study

VIEW_IDS = {"UNKNOWN": 0, "PA": 1, "AP": 2, "LAT": 3, "L-CC": 4, "L-MLO": 5, "R-CC": 6, "R-MLO": 7, "AXIAL": 8}


@dataclass
class Inputs:
    pixel_values: np.ndarray  # (N, 1, S, S) float32
    view_ids: np.ndarray  # (N,) int64
    positions: np.ndarray  # (N,) int64
    to_input: Callable[[float, float, int], tuple[float, float]]  # original (x, y, view) -> model-input pixels
    source: str  # "shared" or "fallback"
    slabs: list[tuple[int, int]] | None = None  # CT: [first, last) slice range of each input image


def _resize(img: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img.astype(np.float32), mode="F").resize((side, side), Image.BILINEAR))


def _scale(img: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(img, [0.5, 99.5])
    return np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)


def fallback_inputs(study: Study, side: int, slabs: int = 8) -> Inputs:
    if study.kind == "ct" and study.volume is not None:
        vol = np.clip((study.volume.array + 160.0) / 400.0, 0, 1)
        groups = np.array_split(np.arange(vol.shape[0]), min(slabs, vol.shape[0]))
        imgs = [_resize(vol[g].mean(axis=0), side) for g in groups]
        views = [VIEW_IDS["AXIAL"]] * len(imgs)
        positions = list(range(len(imgs)))
        shapes = [vol.shape[1:]] * len(imgs)
    else:
        imgs = [_resize(_scale(v.pixels if v.pixels.ndim == 2 else v.pixels.mean(-1)), side) for v in study.views]
        views = [VIEW_IDS.get(v.view, 0) for v in study.views]
        positions = [0] * len(imgs)
        shapes = [v.pixels.shape[:2] for v in study.views]
    px = (np.stack(imgs)[:, None] - 0.5) / 0.5

    def to_input(x: float, y: float, view: int = 0) -> tuple[float, float]:
        rows, cols = shapes[view]
        return x * side / cols, y * side / rows

    return Inputs(px.astype(np.float32), np.asarray(views, np.int64), np.asarray(positions, np.int64), to_input,
                  "fallback")


def study_inputs(study: Study, side: int, preprocess_config: dict | None = None) -> Inputs:
    """Model inputs of one study with the shared preprocessing (fallback before it exists)."""
    try:
        from radfound.preprocess import PreprocessConfig, preprocess
    except ImportError:
        return fallback_inputs(study, side)
    cfg = PreprocessConfig.from_dict({**(preprocess_config or {}), "image_size": side})
    mi = preprocess(study, cfg)
    transforms = mi.transforms

    def to_input(x: float, y: float, view: int = 0) -> tuple[float, float]:
        return tuple(transforms[view].to_input(x, y))  # type: ignore[return-value]

    slabs = [t.slices for t in transforms] if all(t.slices for t in transforms) else None
    return Inputs(np.asarray(mi.pixel_values, np.float32), np.asarray(mi.view_ids, np.int64),
                  np.asarray(mi.positions, np.int64), to_input, "shared", slabs)
