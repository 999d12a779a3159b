"""``radfound bench`` runs end to end on tiny and reports the documented keys (numbers are not asserted)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from radfound.benchmarks import engine as bench  # noqa: E402


def test_engine_bench_on_tiny_reports_every_key(monkeypatch):
    import statistics

    timed = []  # every real scoring call's milliseconds, in order

    def recorded(model, image, _real=bench._ort_yes_no):
        timed.append(_real(model, image))
        return timed[-1]

    monkeypatch.setattr(bench, "_ort_yes_no", recorded)
    result = bench.run(quick=True, configs=["tiny"], device="cpu", new_tokens=4)
    for key in ("ttft_ms", "decode_ms_per_token", "tokens_per_s", "peak_rss_mb", "ort_vs_torch_speedup"):
        assert result[key] > 0, key
    tiny = result["configs"]["tiny"]
    assert tiny["provider"] == "CPUExecutionProvider" and tiny["new_tokens"] == 4
    assert tiny["bandwidth_floor_ms"] > 0 and tiny["int8_decode_ms_per_token"] > 0
    assert tiny["yes_no_ms"] > 0  # the yes/no answer path (four scored spellings) ran
    # yes_no_ms leaves out the session's first scoring call (its allocations: 132-184 ms against ~30 on base)
    assert len(timed) == tiny["rounds"] + 1
    assert tiny["yes_no_ms"] == round(statistics.median(timed[1:]), 2)
    assert tiny["cuda_graph"] is False  # graph replay exists only on CUDA
    assert 50 < tiny["peak_rss_mb"] < 4000  # a real fresh-process measurement, not the parent's
    assert "tiny" in bench.table(result)


def test_bytes_per_step_counts_weights_and_cache():
    cfg = {"text_config": {"hidden_size": 64, "num_heads": 4, "num_kv_heads": 2, "num_layers": 2,
                           "intermediate_size": 128, "vocab_size": 512}}
    no_cache = bench.bytes_per_decode_step(cfg, 0)
    # q,o: 64x64 each; k,v: 64x32 each; mlp 3x64x128; 2 norms; final norm; lm head 64x512 (fp32)
    assert no_cache == 4 * (2 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128 + 2 * 64) + 64 + 64 * 512)
    assert bench.bytes_per_decode_step(cfg, 10) - no_cache == 4 * 2 * 2 * 2 * 16 * 10


def test_bench_command_json(tmp_path):
    import json
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "bench", "--config", "tiny", "--tokens", "4",
                        "--json", "--quick", "--device", "cpu"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["headline_config"] == "tiny" and out["ort_vs_torch_speedup"] > 0
    assert "study_load" in out  # the study engineer's benchmark rides along when present
    r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "bench", "--config", "huge"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "unknown config" in r.stderr


@pytest.mark.parametrize("tokens", [0, 1, -4])
def test_too_few_tokens_are_refused_not_replaced(tokens):
    """--tokens 1 has no decode step to time (it divided by zero); --tokens 0 silently became 64."""
    from radfound.errors import ConfigError

    with pytest.raises(ConfigError, match="--tokens must be at least 2"):
        bench.run(quick=True, configs=["tiny"], device="cpu", new_tokens=tokens)


def test_bench_command_refuses_too_few_tokens_in_one_line(capsys):
    from radfound.cli.main import main

    assert main(["bench", "--config", "tiny", "--tokens", "1", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--tokens must be at least 2" in err and "Traceback" not in err and err.count("\n") == 1


def test_bench_device_follows_the_provider_that_really_runs(monkeypatch):
    """A driver that loads while CUDA's libraries do not: the bench must measure the CPU (fp32), not build an
    fp16 model for a GPU that ORT then runs on the CPU."""
    import onnxruntime as ort

    from radfound.engine import providers

    listed = [p for p in ort.get_available_providers() if p != providers.CUDA]
    monkeypatch.setattr(providers, "cuda_driver_present", lambda: True)
    monkeypatch.setattr(providers.ort, "get_available_providers", lambda: [providers.CUDA, *listed])
    assert providers.requested_providers("auto")[0][0] == providers.CUDA
    really = bench.probe_provider("auto")
    device, gpu = bench.bench_device("auto")
    assert gpu == (really == providers.CUDA) and device == ("cuda" if gpu else "cpu")
    assert bench.bench_device("cpu") == ("cpu", False)
