"""A stack of slices (a CT series, or the frames of an enhanced multi-frame object) to one Volume.

Rules (see docs/study.md):

- Slices are sorted by the projection of ImagePositionPatient on the slice normal
  (row cosines x column cosines from ImageOrientationPatient), never by InstanceNumber.
- All slices must share size, orientation and pixel spacing, else GeometryError.
  Two slices at the same position (several phases or echoes in one series) -> GeometryError.
- Positions must lie on one line. If that line is not the slice normal the series has
  gantry tilt: the geometry is kept exact with a sheared (non-orthogonal) k axis in
  ``Volume.direction`` and a warning; pixels are not resampled.
- Spacing is the median step between positions. Missing slices or irregular spacing
  (a step more than 1% + 0.01 mm off the median) are corrected by linear interpolation
  between the two neighbouring slices onto a regular grid at the median step, with a
  warning; the grid starts at the first slice and never extends past the last one (when
  the span is not a whole number of steps, the remainder beyond the last grid slice is
  dropped and the warning says so). A gap over ``MAX_GAP_STEPS`` steps, or a grid more
  than twice the number of slices read, raises GeometryError instead (that is no longer
  one volume).
- Memory: the float32 volume is allocated once, after the size check against
  ``RADFOUND_MAX_VOLUME_MB`` (VolumeTooLargeError), and filled slice by slice; at most
  two decoded slices are held besides it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radfound.config import max_volume_bytes
from radfound.errors import GeometryError, VolumeTooLargeError

MAX_GAP_STEPS = 5.0  # a gap longer than this many median steps is not a missing slice but another volume
ORIENTATION_TOL = 1e-3  # direction cosines
TILT_TOL_DEG = 0.5


@dataclass
class StackPlan:
    """Where each output slice of the regular grid comes from."""

    order: np.ndarray  # source indices sorted along the normal
    dists: np.ndarray  # sorted distances along the normal (mm)
    target: np.ndarray  # distances of the output slices (mm)
    spacing: tuple[float, float, float]  # (k, row, col) mm
    origin: tuple[float, float, float]
    direction: np.ndarray  # columns i, j, k (LPS)
    warnings: list[str] = field(default_factory=list)


def check_volume_size(n: int, rows: int, cols: int, where) -> None:
    """VolumeTooLargeError before anything is allocated."""
    nbytes = int(n) * int(rows) * int(cols) * 4
    limit = max_volume_bytes()
    if nbytes > limit:
        raise VolumeTooLargeError(
            f"volume {n}x{rows}x{cols} needs {nbytes / 2**20:.0f} MB as float32, over the "
            f"{limit / 2**20:.0f} MB limit (set RADFOUND_MAX_VOLUME_MB to raise it)",
            where,
        )


def plan_stack(
    positions: Sequence[Sequence[float]],
    orientation: Sequence[float],
    pixel_spacing: tuple[float, float],
    where: str | Path,
    *,
    fallback_spacing: float | None = None,
    labels: Sequence[str] | None = None,
    duplicate_hint: str = "pick one series with --series-uid, or split it",
) -> StackPlan:
    """Sort slices along the normal and decide the regular output grid (or raise GeometryError).

    ``labels`` name the slices (file names) in errors; ``duplicate_hint`` is the advice given when
    two slices share a position (it depends on what the caller knows about them).
    """
    pos = np.asarray(positions, dtype=float)
    row_dir = np.asarray(orientation[:3], dtype=float)
    col_dir = np.asarray(orientation[3:6], dtype=float)
    if not (np.isfinite(pos).all() and np.isfinite(row_dir).all() and np.isfinite(col_dir).all()):
        raise GeometryError("non-finite image position or orientation", where)
    nr, nc = np.linalg.norm(row_dir), np.linalg.norm(col_dir)
    if nr < 1e-6 or nc < 1e-6:
        raise GeometryError("image orientation has a zero direction vector", where)
    row_dir, col_dir = row_dir / nr, col_dir / nc
    normal = np.cross(row_dir, col_dir)
    if np.linalg.norm(normal) < 1e-3:
        raise GeometryError("image orientation row and column directions are parallel", where)
    normal /= np.linalg.norm(normal)
    dists_all = pos @ normal
    order = np.argsort(dists_all, kind="stable")
    dists = dists_all[order]
    warnings: list[str] = []
    direction = np.column_stack([row_dir, col_dir, normal])
    if len(order) == 1:
        step = fallback_spacing or 1.0
        return StackPlan(order, dists, dists.copy(), (step, *pixel_spacing), tuple(pos[0]), direction, warnings)
    steps = np.diff(dists)
    same = steps < 1e-3
    if same.any():
        first = int(np.argmax(same))
        involved = int(np.count_nonzero(np.r_[same, False] | np.r_[False, same]))
        n_positions = int(np.count_nonzero(same & ~np.r_[False, same[:-1]]))
        pair = f"; {labels[int(order[first])]} and {labels[int(order[first + 1])]}" if labels is not None else ""
        raise GeometryError(f"slices share a position ({involved} slices at {n_positions} position(s){pair} "
                            f"at {dists[first]:.2f} mm): {duplicate_hint}", where)
    # Positions must lie on one line p0 + t * k_vec (k_vec's normal component is 1 per mm).
    span = dists[-1] - dists[0]
    k_vec = (pos[order[-1]] - pos[order[0]]) / span
    predicted = pos[order[0]] + np.outer(dists - dists[0], k_vec)
    off_line = np.abs(pos[order] - predicted).max()
    if off_line > 0.5 * min(pixel_spacing) + 1e-3:
        raise GeometryError(
            f"slice positions do not lie on one line (up to {off_line:.2f} mm off): mixed stacks in one series",
            where,
        )
    tilt = float(np.degrees(np.arccos(min(1.0, 1.0 / np.linalg.norm(k_vec)))))
    k_dir = normal
    if tilt > TILT_TOL_DEG:
        k_dir = k_vec / np.linalg.norm(k_vec)
        warnings.append(
            f"gantry tilt of {tilt:.1f} degrees: geometry kept exact with a sheared slice axis "
            "(pixels not resampled)"
        )
    direction = np.column_stack([row_dir, col_dir, k_dir])
    step = float(np.median(steps))
    tol = 0.01 * step + 0.01
    target = dists.copy()
    if np.abs(steps - step).max() > tol:
        biggest = float(steps.max() / step)
        # Whole steps that fit in the span (within the tolerance): the grid never runs past the last slice.
        n_target = int(np.floor((span + tol) / step)) + 1
        if biggest > MAX_GAP_STEPS or n_target > 2 * len(dists):
            raise GeometryError(
                f"slice spacing is irregular beyond repair: a gap of {steps.max():.2f} mm "
                f"({biggest:.1f}x the usual {step:.2f} mm step) between slice positions "
                f"{dists[int(steps.argmax())]:.2f} and {dists[int(steps.argmax()) + 1]:.2f} mm",
                where,
            )
        target = dists[0] + step * np.arange(n_target)
        target[-1] = min(target[-1], dists[-1])
        missing = n_target - len(dists)
        what = f"{missing} missing slice(s)" if missing > 0 else "irregular slice spacing"
        beyond = float(dists[-1] - target[-1])
        dropped = f"; the last {beyond:.2f} mm past the grid were dropped" if beyond > tol else ""
        warnings.append(
            f"{what} (steps {steps.min():.2f}-{steps.max():.2f} mm): resampled to a regular {step:.2f} mm grid "
            f"of {n_target} slices by linear interpolation between neighbouring slices{dropped}"
        )
    spacing_k = step * float(np.linalg.norm(k_vec)) if tilt > TILT_TOL_DEG else step
    return StackPlan(order, dists, target, (spacing_k, *pixel_spacing), tuple(pos[order[0]]), direction, warnings)


def fill_volume(
    plan: StackPlan, rows: int, cols: int, load: Callable[[int], np.ndarray], where: str | Path
) -> np.ndarray:
    """Allocate the float32 volume once and fill it along the plan, loading each source slice at most once."""
    check_volume_size(len(plan.target), rows, cols, where)
    volume = np.empty((len(plan.target), rows, cols), dtype=np.float32)
    cache: dict[int, np.ndarray] = {}

    def source(s: int) -> np.ndarray:
        if s not in cache:
            if len(cache) >= 2:
                cache.pop(min(cache))
            cache[s] = load(int(plan.order[s]))
        return cache[s]

    tol = 1e-3 + 1e-3 * (plan.spacing[0] or 1.0)
    for m, t in enumerate(plan.target):
        s = int(np.searchsorted(plan.dists, t))
        if s < len(plan.dists) and abs(plan.dists[s] - t) <= tol:
            volume[m] = source(s)
        elif s > 0 and abs(plan.dists[s - 1] - t) <= tol:
            volume[m] = source(s - 1)
        elif 0 < s < len(plan.dists):
            lo, hi = plan.dists[s - 1], plan.dists[s]
            w = np.float32((t - lo) / (hi - lo))
            np.multiply(source(s - 1), np.float32(1) - w, out=volume[m])
            volume[m] += w * source(s)
        else:  # plan_stack never puts a grid slice outside the slices read; refuse rather than extrapolate
            raise GeometryError(f"output slice at {t:.2f} mm lies outside the slices read "
                                f"({plan.dists[0]:.2f}..{plan.dists[-1]:.2f} mm)", where)
    return volume
