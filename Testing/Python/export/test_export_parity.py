"""ONNX graphs vs the PyTorch model they came from: logits within 1e-4 relative (fp32), identical greedy tokens.

Inputs are fresh random draws each run (the seed is printed on failure), so parity
is not tuned to one input.
"""

from __future__ import annotations

import secrets

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from radfound.engine import load_model  # noqa: E402
from radfound.engine.generation import GenerationConfig, generate  # noqa: E402
from radfound.engine.streaming import TextStream  # noqa: E402
from radfound.export.onnx_export import export_model  # noqa: E402
from radfound.modeling.checkpoint import build_model  # noqa: E402

RTOL = 1e-4
SEED = secrets.randbits(32)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


@pytest.fixture(scope="module", params=["gqa", "reference"])
def exported(request, tmp_path_factory):
    """A random tiny model (weights differ from the session fixture) exported with each decoder builder."""
    torch.set_num_threads(1)  # a tiny model: threads only add contention on a shared 2-core machine
    torch_model, tok = build_model("tiny", seed=SEED % 1000)
    out = export_model(torch_model, tok, tmp_path_factory.mktemp(request.param) / "m",
                       fast_decoder=request.param == "gqa")
    return torch_model, load_model(out, device="cpu")


def session(model_dir, name):
    return ort.InferenceSession(str(model_dir / "onnx" / f"{name}.onnx"), providers=["CPUExecutionProvider"])


def test_vision_encoder_parity(exported):
    torch_model, engine = exported
    rng = np.random.default_rng(SEED)
    v = torch_model.config.vision
    for n in (1, 4, 7):  # one CXR, a 4-view mammogram, a CT slab stack
        px = rng.standard_normal((n, 1, v.image_size, v.image_size)).astype(np.float32)
        views = rng.integers(0, 9, n)
        pos = rng.integers(0, 300, n)  # beyond max_positions too: clamped the same way
        ours = engine.encode_inputs(px, views, pos).image_features
        with torch.no_grad():
            ref = torch_model.encode(torch.from_numpy(px), torch.from_numpy(views), torch.from_numpy(pos)).numpy()
        assert ours.shape == ref.shape
        assert rel_err(ours, ref) < RTOL, f"seed {SEED}, {n} images"


def test_embed_tokens_parity(exported):
    torch_model, engine = exported
    ids = np.random.default_rng(SEED).integers(0, torch_model.config.text.vocab_size, (2, 9))
    with torch.no_grad():
        ref = torch_model.embed_tokens(torch.from_numpy(ids)).numpy()
    assert rel_err(engine.embed(ids), ref) < RTOL, f"seed {SEED}"


def test_decoder_prefill_and_decode_steps_parity(exported):
    torch_model, engine = exported
    t = torch_model.config.text
    rng = np.random.default_rng(SEED)
    sess = engine.decoder.session
    names = [o.name for o in sess.get_outputs()]
    prompt = rng.standard_normal((1, 13, t.hidden_size)).astype(np.float32) * 0.5
    past_np = {f"past_key_values.{i}.{k}": np.zeros((1, t.num_kv_heads, 0, t.head_dim), np.float32)
               for i in range(t.num_layers) for k in ("key", "value")}
    past_t = torch_model.decoder.empty_cache()
    embeds, length = prompt, 0
    for step in range(5):  # prefill (length-0 cache) then four single-token steps
        n = embeds.shape[1]
        mask = np.ones((1, length + n), np.int64)
        pos = np.arange(length, length + n, dtype=np.int64)[None]
        outs = dict(zip(names, sess.run(None, {"inputs_embeds": embeds, "attention_mask": mask,
                                               "position_ids": pos, **past_np})))
        with torch.no_grad():
            logits, past_t = torch_model.decoder(torch.from_numpy(embeds), torch.from_numpy(mask),
                                                 torch.from_numpy(pos), past_t)
        assert outs["logits"].shape == tuple(logits.shape)
        assert rel_err(outs["logits"], logits.numpy()) < RTOL, f"seed {SEED}, step {step}"
        for i, (k, v) in enumerate(past_t):
            assert rel_err(outs[f"present.{i}.key"], k.numpy()) < RTOL, f"seed {SEED}, step {step}, layer {i} key"
            assert rel_err(outs[f"present.{i}.value"], v.numpy()) < RTOL, f"seed {SEED}, step {step}, layer {i} value"
        past_np = {n.replace("present", "past_key_values"): outs[n] for n in names[1:]}
        length += n
        embeds = rng.standard_normal((1, 1, t.hidden_size)).astype(np.float32) * 0.5


def test_greedy_tokens_identical_to_torch_for_20_random_prompts(exported):
    torch_model, engine = exported
    rng = np.random.default_rng(SEED)
    cfg_v, cfg_t = torch_model.config.vision, torch_model.config.text
    eos = engine.generation_defaults["eos_token_id"]
    for trial in range(20):
        n_img = int(rng.integers(1, 5))
        px = rng.standard_normal((n_img, 1, cfg_v.image_size, cfg_v.image_size)).astype(np.float32)
        views, pos = rng.integers(0, 9, n_img), np.arange(n_img)
        enc = engine.encode_inputs(px, views, pos)
        text_ids = rng.integers(7, cfg_t.vocab_size, int(rng.integers(1, 30))).tolist()
        ids = [1, 5] + [torch_model.image_token_id] * cfg_v.num_image_tokens + text_ids + [6]
        with torch.no_grad():
            feats = torch_model.encode(torch.from_numpy(px), torch.from_numpy(views), torch.from_numpy(pos))
            ref = torch_model.greedy(ids, feats, max_new_tokens=16, eos_id=eos)
        embeds = engine.embed(np.array([ids]))
        embeds[0, np.array(ids) == torch_model.image_token_id] = enc.image_features
        cfg = GenerationConfig(max_new_tokens=16, eos_token_id=eos)
        ours = generate(engine.decoder, engine.embed, embeds, cfg, TextStream(engine.tokenizer)).token_ids
        assert ours == [t for t in ref if t != eos], f"seed {SEED}, prompt {trial}"


def test_conv_stem_vision_encoder_parity(tmp_path):
    """The shipped small model's vision options (conv stem, mean + max image summary) export exactly too."""
    from dataclasses import replace

    from radfound.modeling.configs import get_config

    cfg = get_config("tiny")
    cfg = replace(cfg, vision=replace(cfg.vision, stem="conv", summary_pool="mean_max"))
    torch_model, tok = build_model(cfg, seed=SEED % 1000)
    engine = load_model(export_model(torch_model, tok, tmp_path / "m", fast_decoder=False), device="cpu")
    rng = np.random.default_rng(SEED)
    for n in (1, 4):
        px = rng.standard_normal((n, 1, cfg.vision.image_size, cfg.vision.image_size)).astype(np.float32)
        views, pos = rng.integers(0, 9, n), rng.integers(0, 300, n)
        ours = engine.encode_inputs(px, views, pos).image_features
        with torch.no_grad():
            ref = torch_model.encode(torch.from_numpy(px), torch.from_numpy(views), torch.from_numpy(pos)).numpy()
        assert rel_err(ours, ref) < RTOL, f"seed {SEED}, {n} images"


@pytest.mark.parametrize("builder", ["gqa", "reference"])
def test_a_model_trained_with_dropout_exports_without_it(tmp_path, builder):
    """Training leaves the model in train mode; the graphs must still be the deterministic eval-mode model."""
    import onnx

    from radfound.training.config import model_config

    cfg = model_config({"model": {"preset": "tiny", "vision": {"dropout": 0.5}, "text": {"dropout": 0.5}}})
    torch_model, tok = build_model(cfg, seed=SEED % 1000)
    torch_model.train()
    out = export_model(torch_model, tok, tmp_path / "m", fast_decoder=builder == "gqa")
    ops = {node.op_type for path in (out / "onnx").glob("*.onnx") for node in onnx.load(str(path)).graph.node}
    assert "Dropout" not in ops
    engine = load_model(out, device="cpu")
    rng = np.random.default_rng(SEED)
    px = rng.standard_normal((2, 1, cfg.vision.image_size, cfg.vision.image_size)).astype(np.float32)
    views, pos = np.array([4, 5]), np.arange(2)
    torch_model.eval()
    with torch.no_grad():
        ref = torch_model.encode(torch.from_numpy(px), torch.from_numpy(views), torch.from_numpy(pos)).numpy()
    assert rel_err(engine.encode_inputs(px, views, pos).image_features, ref) < RTOL, f"seed {SEED}"


def test_fused_residual_norms_match_separate_adds(tmp_path):
    """The GQA decoder adds each residual inside the next norm (SkipSimplifiedLayerNormalization: two per layer,
    no Add left, two kernels fewer per layer on a GPU); its outputs equal the graph written with separate adds."""
    import collections

    import onnx

    from radfound.export.gqa_decoder import build_gqa_decoder

    torch_model, _ = build_model("tiny", seed=SEED % 1000)
    t = torch_model.config.text
    paths = {fuse: build_gqa_decoder(torch_model, tmp_path / f"fused_{fuse}.onnx", fuse_residual_norms=fuse)
             for fuse in (True, False)}
    ops = {fuse: collections.Counter(n.op_type for n in onnx.load(str(p)).graph.node) for fuse, p in paths.items()}
    assert (ops[True]["SkipSimplifiedLayerNormalization"], ops[True]["SimplifiedLayerNormalization"],
            ops[True]["Add"]) == (2 * t.num_layers, 1, 0)
    assert (ops[False]["SkipSimplifiedLayerNormalization"], ops[False]["SimplifiedLayerNormalization"],
            ops[False]["Add"]) == (0, 2 * t.num_layers + 1, 2 * t.num_layers)

    rng = np.random.default_rng(SEED)
    feeds = {"inputs_embeds": rng.standard_normal((1, 11, t.hidden_size)).astype(np.float32) * 0.5,
             "attention_mask": np.ones((1, 11), np.int64), "position_ids": np.arange(11, dtype=np.int64)[None],
             **{f"past_key_values.{i}.{k}": np.zeros((1, t.num_kv_heads, 0, t.head_dim), np.float32)
                for i in range(t.num_layers) for k in ("key", "value")}}
    fused, separate = (ort.InferenceSession(str(paths[f]), providers=["CPUExecutionProvider"]).run(None, feeds)
                       for f in (True, False))
    for a, b in zip(fused, separate):
        assert rel_err(a, b) < 1e-5, f"seed {SEED}"
