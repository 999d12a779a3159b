"""Benchmark: load a 512 x 512 x 600 CT series (time and peak memory against the volume's size).

The series is written to a temporary folder from the real header of pydicom's
``CT_small.dcm`` (positions, UIDs and size changed; pixels are the real slice
upsampled 4x plus a per-slice offset), then read with ``read_study``: once for
the load time, once under ``tracemalloc`` (numpy and pydicom allocations) for the
peak memory. ``quick`` writes 48 slices instead of 600.

    python -m radfound.benchmarks.study_load [--quick]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

SIZE = 512
SLICES = 600
QUICK_SLICES = 48


def write_series(folder: Path, slices: int, size: int = SIZE) -> Path:
    """Write ``slices`` files of ``size`` x ``size`` int16 CT into ``folder`` (shuffled file names)."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    base = template.pixel_array
    reps = -(-size // base.shape[0])
    pixels = np.kron(base, np.ones((reps, reps), dtype=base.dtype))[:size, :size]
    template.Rows = template.Columns = size
    template.PixelSpacing = ["0.7", "0.7"]
    template.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    series_uid = generate_uid()
    order = np.random.default_rng(0).permutation(slices)
    for k in range(slices):
        ds = copy.copy(template)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-179.2, -179.2, round(-300.0 + 1.25 * k, 4)]
        ds.PixelData = (pixels + (k % 50)).astype(base.dtype).tobytes()
        ds.save_as(folder / f"IM{order[k]:05d}.dcm", enforce_file_format=True)
    return folder


def run(quick: bool = False) -> dict:
    """Write the series, load it, and return timings and memory in a JSON-ready dict."""
    from radfound.study.reader import read_study

    slices = QUICK_SLICES if quick else SLICES
    with tempfile.TemporaryDirectory(prefix="radfound-bench-") as tmp:
        t0 = time.perf_counter()
        write_series(Path(tmp), slices)
        write_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        study = read_study(tmp)
        load_s = time.perf_counter() - t0
        volume_bytes = study.volume.array.nbytes
        shape = list(study.volume.shape)
        del study

        tracemalloc.start()
        study = read_study(tmp)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del study
    return {
        "benchmark": "study_load",
        "quick": quick,
        "shape": shape,
        "files": slices,
        "write_s": round(write_s, 2),
        "load_s": round(load_s, 2),
        "slices_per_s": round(slices / load_s, 1),
        "volume_mb": round(volume_bytes / 2**20, 1),
        "peak_traced_mb": round(peak / 2**20, 1),
        "peak_over_volume": round(peak / volume_bytes, 3),
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SLICES} slices instead of {SLICES}")
    args = parser.parse_args(argv)
    print(json.dumps(run(quick=args.quick), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
