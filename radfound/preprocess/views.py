"""2D views (chest X-ray, mammogram, other images) -> [0, 1] S x S images.

Intensity: the view's DICOM window when present (and ``use_file_window``), else the
0.5 / 99.5 percentiles of the image; clipped and scaled to [0, 1]. Geometry: resized
to fit S x S keeping the aspect ratio, padded with 0 (black); chest X-rays and other
images are centred. Mammograms are flipped left-right when needed so that the chest
wall is on ``mammo_chest_wall`` (left by default) and placed against that border.
"""

from __future__ import annotations

import numpy as np

from radfound.preprocess.config import PreprocessConfig
from radfound.preprocess.imaging import fit_square, grayscale, robust_range, scale_unit, window_range
from radfound.preprocess.transforms import ImageTransform
from radfound.study.model import View

EDGE_FRACTION = 0.1  # columns compared at each edge by the chest-wall heuristic


def unit_intensity(view: View, cfg: PreprocessConfig) -> np.ndarray:
    gray = grayscale(view.pixels)
    if cfg.use_file_window and view.window is not None and view.pixels.ndim == 2:
        lo, hi = window_range(view.window)
    else:
        lo, hi = robust_range(gray, cfg.percentiles)
    return scale_unit(gray, lo, hi)


def chest_wall_side(view: View, unit: np.ndarray) -> str:
    """'left' or 'right': where the chest wall is in the stored pixels.

    DICOM Patient Orientation first: its first value is the direction of increasing
    column index; 'A' (towards the nipple) means the chest wall (posterior) is on the
    left, 'P' on the right. Without it, the breast touches the chest-wall edge: the
    edge band (10% of the columns) with the higher mean intensity is the chest wall.
    """
    if view.patient_orientation:
        first = view.patient_orientation[0][:1]
        if first == "A":
            return "left"
        if first == "P":
            return "right"
    band = max(1, int(unit.shape[1] * EDGE_FRACTION))
    return "left" if unit[:, :band].mean() >= unit[:, -band:].mean() else "right"


def prepare_view(view: View, cfg: PreprocessConfig, kind: str) -> tuple[np.ndarray, ImageTransform]:
    unit = unit_intensity(view, cfg)
    if kind == "mammo":
        flipped = chest_wall_side(view, unit) != cfg.mammo_chest_wall
        return fit_square(unit, cfg, spacing=view.spacing, align=cfg.mammo_chest_wall, flipped=flipped)
    return fit_square(unit, cfg, spacing=view.spacing, align=cfg.cxr_align)
