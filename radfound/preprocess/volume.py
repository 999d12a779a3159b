"""A CT volume -> a fixed number of axial [0, 1] S x S images.

1. Reorient (``ct_reorient``): permute/flip the array axes (views, no copy) so that
   i runs right->left, j anterior->posterior and k inferior->superior, i.e. every
   image is an axial slice in radiological display (patient's right on the image
   left) whatever the source (DICOM, NIfTI in RAS, sagittal acquisitions...).
2. Sample ``ct_slabs`` slabs: the k axis is cut into equal contiguous slabs, each
   averaged (``mean``) or represented by its middle slice (``center``); with fewer
   slices than slabs, slices are repeated (nearest) so the count stays fixed.
3. Window: kind ``ct`` uses the named HU window ``ct_window`` (soft_tissue 40/400,
   thyroid 60/300, ...); other volumes (e.g. MR, kind ``image``) use their file
   window, else the 0.5/99.5 percentiles of the whole volume.
4. Resize keeping the physical in-plane aspect ratio, centre, pad with 0.
``positions`` are the slab indices 0..N-1, inferior to superior.
"""

from __future__ import annotations

import numpy as np

from radfound.preprocess.config import PreprocessConfig
from radfound.preprocess.imaging import fit_square, robust_range, scale_unit, window_range
from radfound.preprocess.transforms import ImageTransform
from radfound.study.model import Volume


def axial_view(volume: Volume) -> tuple[np.ndarray, tuple[float, float, float], list[tuple[int, bool]]]:
    """The array as (k: I->S, j: A->P, i: R->L) without copying, its (k, row, col) spacing, and
    for each output axis (k, j, i) the source array axis and whether it is flipped."""
    direction = np.asarray(volume.direction, dtype=float)  # columns: i, j, k in LPS
    array_axis_of = {0: 2, 1: 1, 2: 0}  # LPS-ordered volume column -> numpy axis of (k, j, i)
    # For each patient axis (L, P, S), the volume axis (column) that points along it most.
    cost = np.abs(direction)
    chosen: dict[int, tuple[int, bool]] = {}
    used: set[int] = set()
    for patient_axis in np.argsort(-cost.max(axis=1)):
        col = max((c for c in range(3) if c not in used), key=lambda c: cost[patient_axis, c])
        used.add(col)
        chosen[int(patient_axis)] = (col, direction[patient_axis, col] < 0)
    spacing_by_col = {0: volume.spacing[2], 1: volume.spacing[1], 2: volume.spacing[0]}
    order = [chosen[2], chosen[1], chosen[0]]  # output (k=S, j=P, i=L)
    array = volume.array.transpose([array_axis_of[col] for col, _ in order])
    index = tuple(slice(None, None, -1) if flip else slice(None) for _, flip in order)
    mapping = [(array_axis_of[col], flip) for col, flip in order]
    return array[index], tuple(spacing_by_col[col] for col, _ in order), mapping  # type: ignore[return-value]


def slab_edges(n_slices: int, n_slabs: int) -> list[tuple[int, int]]:
    """[first, last) slice ranges of each slab; repeats single slices when there are fewer slices than slabs."""
    if n_slices >= n_slabs:
        edges = np.round(np.linspace(0, n_slices, n_slabs + 1)).astype(int)
        return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
    picks = np.minimum(((np.arange(n_slabs) + 0.5) * n_slices / n_slabs).astype(int), n_slices - 1)
    return [(int(p), int(p) + 1) for p in picks]


def prepare_volume(volume: Volume, cfg: PreprocessConfig, kind: str) -> tuple[list[np.ndarray], list[ImageTransform]]:
    if cfg.ct_reorient:
        array, spacing, _ = axial_view(volume)
    else:
        array, spacing = volume.array, volume.spacing
    if kind == "ct":
        lo, hi = window_range(cfg.window)
    elif cfg.use_file_window and volume.window is not None:
        lo, hi = window_range(volume.window)
    else:
        lo, hi = robust_range(np.asarray(array), cfg.percentiles)
    images, transforms = [], []
    for first, last in slab_edges(array.shape[0], cfg.ct_slabs):
        if cfg.ct_slab_mode == "mean":
            hu = array[first:last].mean(axis=0, dtype=np.float32)
        else:
            hu = np.asarray(array[(first + last - 1) // 2], dtype=np.float32)
        image, transform = fit_square(scale_unit(hu, lo, hi), cfg, spacing=(spacing[1], spacing[2]),
                                      slices=(first, last))
        images.append(image)
        transforms.append(transform)
    return images, transforms
