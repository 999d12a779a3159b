"""Loading a model folder: manifest verified first, clear errors naming the file."""

from __future__ import annotations

import shutil

import pytest

from radfound.engine import load_model
from radfound.engine.providers import CUDA, cuda_driver_present
from radfound.errors import IntegrityError, ModelError


def test_tampered_graph_refuses_to_load_naming_the_file(tiny_model_dir, tmp_path):
    copy = shutil.copytree(tiny_model_dir, tmp_path / "m")
    graph = copy / "onnx" / "decoder_model_merged.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    graph.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as err:
        load_model(copy, device="cpu")
    assert "decoder_model_merged.onnx" in str(err.value) and "sha256" in str(err.value)


def test_missing_folder_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="model folder not found"):
        load_model(tmp_path / "nope")


def test_folder_without_manifest_is_refused(tiny_model_dir, tmp_path):
    copy = shutil.copytree(tiny_model_dir, tmp_path / "m")
    (copy / "manifest.json").unlink()
    with pytest.raises(ModelError, match="manifest"):
        load_model(copy)


def test_unknown_precision_variant_is_a_model_error(tiny_model_dir):
    with pytest.raises(ModelError, match="precision|variant"):
        load_model(tiny_model_dir, device="cpu", precision="int4")


@pytest.mark.skipif(cuda_driver_present(), reason="this machine has an NVIDIA driver: CUDA may really work")
def test_cuda_requested_without_cuda_is_a_clear_error(tiny_model_dir):
    with pytest.raises(ModelError, match="CUDA was requested"):
        load_model(tiny_model_dir, device="cuda")


def test_auto_reports_the_provider_that_really_runs(tiny_model_dir):
    model = load_model(tiny_model_dir, device="auto")
    assert model.provider in (CUDA, "CPUExecutionProvider")
    assert model.provider == model.decoder.session.get_providers()[0]


@pytest.mark.parametrize("value, enabled", [(None, True), ("1", True), ("0", False), ("false", False), ("no", False)])
def test_cuda_graph_switch(monkeypatch, value, enabled):
    from radfound.config import cuda_graphs_enabled

    if value is None:
        monkeypatch.delenv("RADFOUND_CUDA_GRAPH", raising=False)
    else:
        monkeypatch.setenv("RADFOUND_CUDA_GRAPH", value)
    assert cuda_graphs_enabled() is enabled


def test_cpu_never_asks_for_graph_capture():
    from radfound.engine.providers import CPU, requested_providers

    assert requested_providers("cpu", cuda_graph=True) == [CPU]
