"""Study -> model inputs for training, through the shared preprocessing.

The runtime engine preprocesses with ``radfound.preprocess.preprocess(study, config)``;
training must see exactly the same pixels, so it calls that same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from radfound.preprocess import PreprocessConfig, preprocess
from radfound.study.model import Study


@dataclass
class Inputs:
    pixel_values: np.ndarray  # (N, 1, S, S) float32
    view_ids: np.ndarray  # (N,) int64
    positions: np.ndarray  # (N,) int64
    to_input: Callable[[float, float, int], tuple[float, float]]  # original (x, y, view) -> model-input pixels
    slabs: list[tuple[int, int]] | None = None  # CT: [first, last) slice range of each input image


def study_inputs(study: Study, side: int, preprocess_config: dict | None = None) -> Inputs:
    """Model inputs of one study with the shared preprocessing (the engine's own)."""
    cfg = PreprocessConfig.from_dict({**(preprocess_config or {}), "image_size": side})
    mi = preprocess(study, cfg)
    transforms = mi.transforms

    def to_input(x: float, y: float, view: int = 0) -> tuple[float, float]:
        return tuple(transforms[view].to_input(x, y))  # type: ignore[return-value]

    slabs = [t.slices for t in transforms] if all(t.slices for t in transforms) else None
    return Inputs(np.asarray(mi.pixel_values, np.float32), np.asarray(mi.view_ids, np.int64),
                  np.asarray(mi.positions, np.int64), to_input, slabs)
