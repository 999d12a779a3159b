"""Checks every Study's pixels pass, whatever the source format: a minimum 2D size and finite values.

One place for both, so that DICOM, NRRD/NIfTI and PNG/JPEG/TIFF images obey the same rules:

- a 2D view smaller than ``MIN_IMAGE_SIDE`` pixels a side is refused (an icon or a corrupt
  header, not something the model can read);
- NaN / infinite values (resampled NIfTI/NRRD outside the field of view, float TIFF, a
  nonsensical rescale) never reach preprocessing: they are replaced by the smallest finite
  value (background) with a warning that counts them, and an image without any finite value
  is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radfound.config import MIN_IMAGE_SIDE
from radfound.errors import StudyReadError, UnsupportedInputError


def check_min_side(rows: int, cols: int, path: str | Path | None) -> None:
    """UnsupportedInputError when a 2D image is smaller than MIN_IMAGE_SIDE on either side."""
    if min(int(rows), int(cols)) < MIN_IMAGE_SIDE:
        raise UnsupportedInputError(f"image is {cols}x{rows} pixels, too small to read "
                                    f"(at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE})", path)


def replace_nonfinite(array: np.ndarray, path: str | Path | None, what: str = "pixel") -> str | None:
    """Replace NaN/inf in ``array`` (in place) by its smallest finite value; return the warning, or None.

    Raises StudyReadError when no value is finite. A volume is scanned slice by slice (after a
    whole-array sum, which is finite exactly when every value is, in the usual case), so no
    full-size mask is allocated.
    """
    if not np.issubdtype(array.dtype, np.floating) or array.size == 0:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(array, dtype=np.float64)):
            return None
    chunks = array if array.ndim >= 3 else array[None]
    bad, low = 0, np.inf
    for chunk in chunks:
        finite = np.isfinite(chunk)
        n_finite = int(np.count_nonzero(finite))
        bad += chunk.size - n_finite
        if n_finite:
            low = min(low, float(chunk[finite].min()) if n_finite < chunk.size else float(chunk.min()))
    if bad == 0:
        return None
    if not np.isfinite(low):
        raise StudyReadError(f"no finite {what} values (all {array.size} are NaN or infinite)", path)
    for chunk in chunks:
        chunk[~np.isfinite(chunk)] = low
    name = Path(path).name if path is not None else "image"
    return (f"{name}: {bad} non-finite {what} value(s) (NaN/infinite, {100.0 * bad / array.size:.1f}%) "
            f"replaced by the smallest finite value {low:g}")
