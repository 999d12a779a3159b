"""Loading a model folder: manifest verified first, clear errors naming the file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from radfound.engine import load_model
from radfound.engine.providers import CUDA, cuda_driver_present
from radfound.errors import ConfigError, IntegrityError, ModelError
from radfound.tasks.prompts import report_prompt


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


@pytest.mark.parametrize("value, enabled", [(None, True), ("1", True), ("0", False), ("false", False), ("no", False),
                                            ("off", False), ("False", False), (" OFF ", False), ("On", True),
                                            ("TRUE", True), ("yes", True)])
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


def test_an_unknown_cuda_graph_setting_is_a_config_error(monkeypatch):
    from radfound.config import cuda_graphs_enabled

    monkeypatch.setenv("RADFOUND_CUDA_GRAPH", "maybe")
    with pytest.raises(ConfigError, match="RADFOUND_CUDA_GRAPH"):
        cuda_graphs_enabled()


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_bad_thread_count_is_blamed_on_the_variable_not_the_model(tiny_model_dir, monkeypatch, value):
    monkeypatch.setenv("RADFOUND_THREADS", value)
    with pytest.raises(ConfigError) as err:
        load_model(tiny_model_dir, device="cpu")
    assert "RADFOUND_THREADS" in str(err.value) and not isinstance(err.value, ModelError)
    assert ".onnx" not in str(err.value)


def test_thread_count_setting(monkeypatch):
    from radfound.config import ort_threads

    for value, threads in ((None, 0), ("", 0), ("1", 1), (" 3 ", 3)):
        if value is None:
            monkeypatch.delenv("RADFOUND_THREADS", raising=False)
        else:
            monkeypatch.setenv("RADFOUND_THREADS", value)
        assert ort_threads() == threads


@pytest.mark.parametrize("value", ["lots", "0", "-5", "nan", "inf"])
def test_bad_volume_limit_is_a_config_error_naming_the_variable(monkeypatch, value):
    from radfound.config import max_volume_bytes

    monkeypatch.setenv("RADFOUND_MAX_VOLUME_MB", value)
    with pytest.raises(ConfigError, match="RADFOUND_MAX_VOLUME_MB"):
        max_volume_bytes()


def test_volume_limit_setting(monkeypatch):
    from radfound.config import max_volume_bytes

    monkeypatch.delenv("RADFOUND_MAX_VOLUME_MB", raising=False)
    assert max_volume_bytes() == 2048 * 2**20
    monkeypatch.setenv("RADFOUND_MAX_VOLUME_MB", "0.5")
    assert max_volume_bytes() == 2**19


def test_auto_with_a_cuda_that_cannot_start_runs_the_cpu_decoder(tiny_model_dir, monkeypatch):
    """The NVIDIA driver loads but CUDA's libraries do not, so ORT runs the sessions on the CPU: the decoder runner
    must follow the provider the session really runs (a CUDA-graph runner on a CPU session cannot generate)."""
    import onnxruntime as ort

    from radfound.engine import providers
    from radfound.engine.cuda_graph import CudaGraphDecoder
    from radfound.engine.decoder_runner import CpuDecoder, CudaDecoder, InPlaceDecoder

    listed = [p for p in ort.get_available_providers() if p != CUDA]
    monkeypatch.setattr(providers, "cuda_driver_present", lambda: True)
    monkeypatch.setattr(providers.ort, "get_available_providers", lambda: [CUDA, *listed])
    monkeypatch.setenv("RADFOUND_CUDA_GRAPH", "1")
    assert providers.requested_providers("auto")[0][0] == CUDA  # CUDA is asked for...
    model = load_model(tiny_model_dir, device="auto")
    session_provider = model.decoder.session.get_providers()[0]
    assert model.provider == session_provider
    if session_provider == CUDA:  # a machine where CUDA really works: the CUDA runners are right
        assert isinstance(model.decoder, (CudaGraphDecoder, CudaDecoder)) or model.decoder.device == "cuda"
    else:  # ...but the CPU runs it (here: onnxruntime-gpu without CUDA's libraries, or the CPU build)
        assert type(model.decoder) in (InPlaceDecoder, CpuDecoder)
        assert getattr(model.decoder, "device", "cpu") == "cpu"
        assert model.vision.get_providers()[0] == model.embed_session.get_providers()[0] == providers.CPU
    s = model.config["vision_config"]["image_size"]
    enc = model.encode_inputs(np.zeros((1, 1, s, s), np.float32), [1], [0])
    out = model.generate(enc, report_prompt("cxr", model.num_image_tokens), max_new_tokens=3)
    assert 0 < out.timings.new_tokens <= 3 or out.stopped_by == "eos"
