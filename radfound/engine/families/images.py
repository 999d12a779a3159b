"""A Study as the 8-bit RGB pictures a community vision-language model expects.

Community models were trained on ordinary 8-bit images, so each view is windowed
(the file's own VOI window when it has one, else the 0.5-99.5 percentile range)
and scaled to 0-255. A CT volume contributes evenly spaced axial slices in a soft
tissue window (centre 40 HU, width 400 HU).
"""

from __future__ import annotations

import numpy as np

from radfound.errors import ModelError
from radfound.study.model import Study

CT_WINDOW = (40.0, 400.0)


def to_uint8(pixels: np.ndarray, window: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W) or (H, W, 3) float pixels -> (H, W, 3) uint8, windowed."""
    arr = np.asarray(pixels, dtype=np.float32)
    if window is not None:
        lo, hi = window[0] - window[1] / 2, window[0] + window[1] / 2
    else:
        lo, hi = (float(v) for v in np.percentile(arr, (0.5, 99.5)))
    if hi <= lo:
        hi = lo + 1.0
    out = np.clip((arr - lo) / (hi - lo) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return out


def study_images(study: Study, max_slices: int = 3) -> list[np.ndarray]:
    """The pictures of a study, in view order (a CT: ``max_slices`` axial slices)."""
    if study.views:
        return [to_uint8(v.pixels, v.window) for v in study.views]
    if study.volume is not None:
        vol = study.volume.array
        k = np.linspace(0, vol.shape[0] - 1, max_slices + 2)[1:-1].round().astype(int)
        return [to_uint8(vol[i], CT_WINDOW) for i in k]
    raise ModelError("the study has no image to show the model")
