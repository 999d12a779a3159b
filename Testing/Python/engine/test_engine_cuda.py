"""The CUDA path (IOBinding, KV cache kept on the GPU between steps) gives what the CPU path gives.

Skipped, with the reason, where ONNX Runtime cannot run CUDA (no NVIDIA driver or a CPU-only onnxruntime):
CI has no GPU. Run on a GPU machine with ``pytest Testing/Python/engine/test_engine_cuda.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from radfound.engine import load_model
from radfound.engine.cuda_graph import CudaGraphDecoder
from radfound.engine.decoder_runner import CudaDecoder, InPlaceDecoder
from radfound.engine.generation import generate, score_continuations
from radfound.engine.providers import CUDA
from radfound.engine.streaming import TextStream
from radfound.errors import ModelError
from radfound.tasks.prompts import report_instruction, report_prompt, vqa_prompt


def _assert_same_steps(a, b, embeds, embed, steps: int, tol: float) -> None:
    """Feed both decoders the prompt, then the same fixed tokens; every step's logits must agree."""
    for step in range(steps):
        e = embeds if step == 0 else embed(np.array([[11 + step]]))
        length = b.length
        mask = np.ones((1, length + e.shape[1]), np.int64)
        pos = np.arange(length, length + e.shape[1])[None]
        np.testing.assert_allclose(a.step(e, mask, pos), b.step(e, mask, pos), rtol=tol, atol=tol)


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
    _assert_same_steps(decoder, cpu.decoder, embeds, cpu.embed, steps=4, tol=1e-4)
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


@pytest.fixture(scope="module")
def fp16_models(tmp_path_factory, monkeypatch_module):
    """The tiny model with fp16 graphs (ORT's CUDA GroupQueryAttention): with and without CUDA-graph replay."""
    from radfound.export.onnx_export import export_model
    from radfound.modeling.checkpoint import build_model

    model, tokenizer = build_model("tiny", seed=0)
    folder = export_model(model, tokenizer, tmp_path_factory.mktemp("fp16") / "radfound-tiny", fp16=True)
    try:
        graph = load_model(folder, device="cuda", precision="fp16")
    except ModelError as exc:
        pytest.skip(f"ONNX Runtime cannot run CUDA here: {exc}")
    monkeypatch_module.setenv("RADFOUND_CUDA_GRAPH", "0")
    plain = load_model(folder, device="cuda", precision="fp16")
    monkeypatch_module.delenv("RADFOUND_CUDA_GRAPH")
    return graph, plain


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_fp16_decode_replays_a_cuda_graph_and_the_switch_turns_it_off(fp16_models):
    graph, plain = fp16_models
    assert isinstance(graph.decoder, CudaGraphDecoder) and not isinstance(plain.decoder, CudaGraphDecoder)
    before = graph.decoder.graph_steps
    graph.generate(_study(graph, 0), report_prompt("mammo", graph.num_image_tokens), max_new_tokens=12)
    assert graph.decoder.graph_steps - before >= 11  # every token after the first came from a replay


def test_cuda_graph_generation_matches_plain_steps_across_prompts(fp16_models):
    """Several generations in a row reuse one captured graph and its static cache: a longer prompt's
    leftovers must not leak into a shorter one's answer."""
    graph, plain = fp16_models
    prompts = [report_instruction("mammo"), "Is there a mass in the left breast?", "Where?", report_instruction("ct")]
    for seed, text in enumerate(prompts):
        outs = []
        embeds = plain.prompt_embeds(vqa_prompt(text, plain.num_image_tokens), _study(plain, seed, views=4))
        for m in (graph, plain):
            outs.append(generate(m.decoder, m.embed, embeds, m.generation_config(max_new_tokens=20),
                                 TextStream(m.tokenizer)).token_ids)
        assert outs[0] == outs[1], text


def test_cuda_graph_step_logits_match_plain_steps(fp16_models):
    graph, plain = fp16_models
    embeds = plain.prompt_embeds(vqa_prompt("Is there a mass?", plain.num_image_tokens), _study(plain, 5))
    n = embeds.shape[1]
    for m in (graph, plain):
        m.decoder.start(1, capacity=n + 6)
    _assert_same_steps(graph.decoder, plain.decoder, embeds, plain.embed, steps=6, tol=2e-3)
    assert graph.decoder.graph_steps > 0


def test_beams_and_scoring_after_graph_replays_match_plain(fp16_models):
    graph, plain = fp16_models
    out = []
    enc = _study(plain, 2, views=1)  # one encoding for both: two fp16 vision sessions need not be bit-identical
    for m in (graph, plain):
        m.generate(enc, report_prompt("chest", m.num_image_tokens), max_new_tokens=8)  # leaves the graph warm
        beams = m.generate(enc, report_prompt("chest", m.num_image_tokens), max_new_tokens=10, num_beams=3)
        q = m.prompt_embeds(vqa_prompt("Is there a mass?", m.num_image_tokens), enc)
        out.append((beams.token_ids, score_continuations(m.decoder, m.embed, q, [[17, 2], [5, 9, 11, 2]])))
    assert out[0][0] == out[1][0]
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=2e-3, atol=2e-3)
