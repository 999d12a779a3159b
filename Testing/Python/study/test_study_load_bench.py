"""The study-load benchmark in quick mode: it runs, and loading peaks at no more than twice the volume."""

from __future__ import annotations

from radfound.benchmarks.study_load import QUICK_SLICES, run


def test_quick_benchmark_memory_is_at_most_twice_the_volume():
    result = run(quick=True)
    assert result["shape"] == [QUICK_SLICES, 512, 512]
    assert result["volume_mb"] == QUICK_SLICES * 512 * 512 * 4 / 2**20
    assert result["peak_over_volume"] <= 2.0
    assert result["load_s"] > 0 and result["slices_per_s"] > 0
