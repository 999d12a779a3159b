"""bfloat16 autocast only where the CPU does it natively: emulated it made an align step 37x slower here."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from radfound.training.pretrained.stages import cpu_has_fast_bf16  # noqa: E402

CPUINFO = Path("/proc/cpuinfo")


@pytest.mark.skipif(not CPUINFO.is_file() or platform.machine() != "x86_64", reason="reads x86 Linux CPU flags")
def test_native_bfloat16_is_detected_from_the_cpu_flags():
    flags = {f for line in CPUINFO.read_text().splitlines() if line.startswith("flags")
             for f in line.split(":", 1)[1].split()}
    native = bool(flags & {"avx512_bf16", "amx_bf16"})
    assert cpu_has_fast_bf16() is native, f"CPU bf16 flags: {sorted(flags & {'avx512_bf16', 'amx_bf16'})}"
