"""The CUDA path (IOBinding, KV cache kept on the GPU between steps) gives what the CPU path gives.

Skipped, with the reason, where ONNX Runtime cannot run CUDA (no NVIDIA driver or a CPU-only onnxruntime):
CI has no GPU. Run on a GPU machine with ``pytest Testing/Python/engine/test_engine_cuda.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from radfound.engine import load_model
from radfound.engine.decoder_runner import CudaDecoder, InPlaceDecoder
from radfound.engine.generation import generate, score_continuations
from radfound.engine.providers import CUDA
from radfound.engine.streaming import TextStream
from radfound.errors import ModelError
from radfound.tasks.prompts import report_prompt, vqa_prompt


@pytest.fixture(scope="module")
def models(tiny_model_dir):
    try:
        gpu = load_model(tiny_model_dir, device="cuda", precision="fp32")
    except ModelError as exc:
        pytest.skip(f"ONNX Runtime cannot run CUDA here: {exc}")
    return gpu, load_model(tiny_model_dir, device="cpu", precision="fp32")


def _study(model, seed: int, views: int = 3):
    s = model.config["vision_config"]["image_size"]
    px = np.random.default_rng(seed).standard_normal((views, 1, s, s)).astype(np.float32)
    return model.encode_inputs(px, list(range(4, 4 + views)), list(range(views)))


def test_cuda_session_runs_on_cuda_with_the_cache_on_the_device(models):
    gpu, _ = models
    assert gpu.provider == CUDA
    assert isinstance(gpu.decoder, InPlaceDecoder) and gpu.decoder.device == "cuda"
    gpu.decoder.start(1, capacity=8)
    assert all(b.device_name().lower() == "cuda" for b in gpu.decoder.buffers)


def test_image_features_match_cpu(models):
    gpu, cpu = models
    a, b = _study(gpu, 1), _study(cpu, 1)
    np.testing.assert_allclose(a.image_features, b.image_features, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_tokens_match_cpu(models, seed):
    gpu, cpu = models
    cfg = gpu.generation_config(max_new_tokens=24)
    out = []
    for m in (gpu, cpu):
        embeds = m.prompt_embeds(report_prompt("mammo", m.num_image_tokens), _study(m, seed))
        out.append(generate(m.decoder, m.embed, embeds, cfg, TextStream(m.tokenizer)).token_ids)
    assert out[0] == out[1]


@pytest.mark.parametrize("runner", ["in_place", "growing"])
def test_step_logits_match_cpu(models, runner):
    """Every decoder step's logits, prefill and single tokens, for both device-resident cache kinds."""
    gpu, cpu = models
    t = gpu.config["text_config"]
    decoder = gpu.decoder if runner == "in_place" else CudaDecoder(
        gpu.decoder.session, t["num_layers"], t["num_kv_heads"], t["hidden_size"] // t["num_heads"])
    embeds = cpu.prompt_embeds(vqa_prompt("Is there a mass?", cpu.num_image_tokens), _study(cpu, 7))
    n = embeds.shape[1]
    if runner == "in_place":
        decoder.start(1, capacity=n + 4)
    else:
        decoder.start(1)
    cpu.decoder.start(1, capacity=n + 4)
    for step in range(4):
        e = embeds if step == 0 else cpu.embed(np.array([[11 + step]]))
        length = cpu.decoder.length
        mask = np.ones((1, length + e.shape[1]), np.int64)
        pos = np.arange(length, length + e.shape[1])[None]
        np.testing.assert_allclose(decoder.step(e, mask, pos), cpu.decoder.step(e, mask, pos),
                                   rtol=1e-4, atol=1e-4)
    assert decoder.length == cpu.decoder.length == n + 3


def test_beam_search_and_answer_scoring_match_cpu(models):
    """Beams reorder the device cache; closed answers copy the prefilled cache per answer."""
    gpu, cpu = models
    cfg = gpu.generation_config(max_new_tokens=16, num_beams=3)
    beams, scores = [], []
    for m in (gpu, cpu):
        enc = _study(m, 3, views=1)
        embeds = m.prompt_embeds(report_prompt("chest", m.num_image_tokens), enc)
        beams.append(generate(m.decoder, m.embed, embeds, cfg, TextStream(m.tokenizer)).token_ids)
        q = m.prompt_embeds(vqa_prompt("Is there a mass?", m.num_image_tokens), enc)
        scores.append(score_continuations(m.decoder, m.embed, q, [[17, 2], [5, 9, 11, 2], [40]]))
    assert beams[0] == beams[1]
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-4, atol=1e-4)
