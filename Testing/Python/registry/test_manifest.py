"""The manifest catches modified, truncated and missing model files, naming the file."""

from __future__ import annotations

import pytest

from radfound.errors import IntegrityError, ModelError
from radfound.registry.manifest import verify_model_dir, write_manifest


@pytest.fixture()
def model_dir(tmp_path):
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "decoder_model_merged.onnx").write_bytes(b"\x08\x07graph" * 100)
    (tmp_path / "config.json").write_text('{"model_type": "radfound"}')
    write_manifest(tmp_path, name="t", model_version="0")
    return tmp_path


def test_intact_folder_verifies(model_dir):
    manifest = verify_model_dir(model_dir)
    assert set(manifest["files"]) == {"onnx/decoder_model_merged.onnx", "config.json"}


def test_modified_file_is_named(model_dir):
    target = model_dir / "onnx" / "decoder_model_merged.onnx"
    data = bytearray(target.read_bytes())
    data[5] ^= 0xFF  # same size, different content
    target.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"decoder_model_merged\.onnx: sha256 does not match"):
        verify_model_dir(model_dir)


def test_truncated_and_missing_files(model_dir):
    (model_dir / "config.json").write_text("{")
    with pytest.raises(IntegrityError, match=r"config\.json: size"):
        verify_model_dir(model_dir)
    (model_dir / "config.json").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        verify_model_dir(model_dir)


def test_entry_escaping_folder_refused(model_dir):
    import json

    m = json.loads((model_dir / "manifest.json").read_text())
    m["files"]["../outside"] = {"sha256": "0", "size": 0}
    (model_dir / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IntegrityError, match="outside the model folder"):
        verify_model_dir(model_dir)


def test_no_manifest(tmp_path):
    with pytest.raises(ModelError, match="no manifest.json"):
        verify_model_dir(tmp_path)
