"""Small deterministic image operations shared by every kind: intensity scaling, resize and pad."""

from __future__ import annotations

import numpy as np
from PIL import Image

from radfound.preprocess.config import PreprocessConfig
from radfound.preprocess.transforms import ImageTransform

_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
PERCENTILE_SAMPLES = 1_000_000  # robust range from at most ~1M pixels (a regular subsample: deterministic)


def grayscale(pixels: np.ndarray) -> np.ndarray:
    """(rows, cols) float32; RGB becomes ITU-R BT.601 luma."""
    if pixels.ndim == 3:
        return (pixels[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)
    return np.asarray(pixels, dtype=np.float32)


def robust_range(values: np.ndarray, percentiles: tuple[float, float]) -> tuple[float, float]:
    """Percentile range of the finite values (NaN/inf ignored; (0, 0) when none is finite)."""
    step = max(1, int(np.ceil(values.size / PERCENTILE_SAMPLES)))
    sample = values.reshape(-1)[::step]
    if not np.isfinite(sample).all():
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            return 0.0, 0.0
    lo, hi = np.percentile(sample, percentiles)
    return float(lo), float(hi)


def window_range(window: tuple[float, float]) -> tuple[float, float]:
    centre, width = window
    return centre - width / 2.0, centre + width / 2.0


def scale_unit(pixels: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Clip to [lo, hi] and map to [0, 1] (a flat image becomes all zeros; NaN becomes 0, background).

    Studies from ``read_study`` hold only finite values; this keeps any other source (a Slicer
    node, a caller's own array) from sending NaN to the model.
    """
    out = np.asarray(pixels, dtype=np.float32) - np.float32(lo)
    with np.errstate(invalid="ignore"):
        out *= np.float32(1.0 / (hi - lo)) if hi > lo else np.float32(0.0)
    np.clip(out, 0.0, 1.0, out=out)
    return np.nan_to_num(out, copy=False, nan=0.0)


def fit_square(
    image: np.ndarray,
    cfg: PreprocessConfig,
    *,
    spacing: tuple[float, float] = (1.0, 1.0),
    align: str = "center",
    flipped: bool = False,
    slices: tuple[int, int] | None = None,
) -> tuple[np.ndarray, ImageTransform]:
    """Resize a [0, 1] image to fit S x S keeping its physical aspect ratio, pad with 0; flip first if asked.

    ``align``: center, or left (top-left corner: the mammogram chest wall edge stays on the border).
    """
    S = cfg.image_size
    rows, cols = image.shape
    height, width = rows * spacing[0], cols * spacing[1]
    factor = S / max(height, width)
    new_rows = max(1, min(S, int(round(height * factor))))
    new_cols = max(1, min(S, int(round(width * factor))))
    if flipped:
        image = image[:, ::-1]
    resized = np.asarray(
        Image.fromarray(np.ascontiguousarray(image, dtype=np.float32), mode="F").resize(
            (new_cols, new_rows), _FILTERS[cfg.resample]
        ),
        dtype=np.float32,
    )
    if align == "center":
        oy, ox = (S - new_rows) // 2, (S - new_cols) // 2
    elif align == "right":
        oy, ox = (S - new_rows) // 2, S - new_cols
    else:  # left
        oy, ox = (S - new_rows) // 2, 0
    out = np.zeros((S, S), dtype=np.float32)
    out[oy : oy + new_rows, ox : ox + new_cols] = np.clip(resized, 0.0, 1.0)
    transform = ImageTransform((rows, cols), (new_cols / cols, new_rows / rows), (float(ox), float(oy)), flipped, slices)
    return out, transform


def normalise(images: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    return ((images - np.float32(cfg.mean)) / np.float32(cfg.std)).astype(np.float32)
