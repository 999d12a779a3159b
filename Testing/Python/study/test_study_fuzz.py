"""Fuzz: mutated real DICOM files either read or raise a typed RadFoundError, never anything else.

Bounded here (hypothesis, 150 examples); ``python -m radfound.study.fuzz --count N`` runs many more
(counts recorded in docs/study.md).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radfound.study.fuzz import check, mutate, seed_bytes

SEEDS = seed_bytes()


@pytest.fixture(autouse=True)
def _small_volume_limit(monkeypatch):
    monkeypatch.setenv("RADFOUND_MAX_VOLUME_MB", "256")


def test_seed_files_are_real_and_readable(tmp_path):
    assert len(SEEDS) >= 6
    for name, data in SEEDS.items():
        # The 3x3 RGB seed is decoded (so its mutations still exercise the decoders), then refused as too small.
        expected = "UnsupportedInputError" if name == "SC_rgb_small_odd.dcm" else "ok"
        assert check(data, tmp_path) == expected, name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(SEEDS)), rng=st.randoms(use_true_random=False))
def test_mutated_real_files_fail_only_with_typed_errors(tmp_path: Path, name, rng):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, what = mutate(SEEDS[name], rng)
        outcome = check(data, tmp_path)  # raises (fails the test) on any non-RadFoundError
    assert outcome == "ok" or outcome.endswith("Error"), what


def test_rle_decoder_panic_is_a_typed_error(pydicom_data, tmp_path):
    """Found by the fuzzer: a corrupt RLE stream made pylibjpeg-rle panic (a BaseException)."""
    from radfound.errors import StudyReadError
    from radfound.study.reader import read_study

    data = bytearray(pydicom_data("MR_small_RLE.dcm").read_bytes())
    data[3677 : 3677 + 56] = b"\xff" * 56  # the mutation the fuzzer found (seed 0, input 195)
    path = tmp_path / "bad_rle.dcm"
    path.write_bytes(bytes(data))
    with pytest.raises(StudyReadError, match="decoder failed on corrupt data") as info:
        read_study(path)
    assert str(path) in str(info.value)
