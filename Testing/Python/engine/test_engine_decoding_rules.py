"""Decoding rules on real numbers: repetition penalty, top-k / top-p, stop strings through the engine."""

from __future__ import annotations

import numpy as np
import pytest

from radfound.engine import load_model
from radfound.engine.generation import GenerationConfig, apply_repetition_penalty, sample_token
from radfound.errors import ModelError
from radfound.tasks.prompts import report_prompt


def test_repetition_penalty_divides_positive_and_multiplies_negative_scores():
    scores = np.array([2.0, -2.0, 1.0, 0.5], np.float32)
    out = apply_repetition_penalty(scores, [0, 1, 1], 2.0)
    np.testing.assert_allclose(out, [1.0, -4.0, 1.0, 0.5])
    assert apply_repetition_penalty(scores, [0], 1.0) is scores


def test_top_k_one_and_tiny_top_p_are_greedy():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal(100).astype(np.float32)
    for cfg in (GenerationConfig(do_sample=True, top_k=1), GenerationConfig(do_sample=True, top_p=1e-6)):
        assert {sample_token(scores, cfg, rng) for _ in range(20)} == {int(np.argmax(scores))}


def test_top_k_draws_only_from_the_k_best():
    rng = np.random.default_rng(1)
    scores = np.linspace(0, 1, 50).astype(np.float32)
    draws = {sample_token(scores, GenerationConfig(do_sample=True, top_k=3, temperature=5.0), rng) for _ in range(200)}
    assert draws == {47, 48, 49}


def test_invalid_options_are_refused():
    with pytest.raises(ModelError):
        GenerationConfig.from_dict({}, temperature=0)
    with pytest.raises(ModelError):
        GenerationConfig.from_dict({}, top_p=1.5)


def test_stop_string_ends_generation_through_the_engine(tiny_model_dir):
    model = load_model(tiny_model_dir, device="cpu")
    s = model.config["vision_config"]["image_size"]
    enc = model.encode_inputs(np.random.default_rng(3).standard_normal((1, 1, s, s)).astype(np.float32), [1], [0])
    prompt = report_prompt("cxr", model.num_image_tokens)
    full = model.generate(enc, prompt, max_new_tokens=30, repetition_penalty=1.2)
    text = full.text
    stop = next((text[i:i + 2] for i in range(2, len(text) - 2) if text[i:i + 2].isprintable()
                 and text.find(text[i:i + 2]) == i and text[i:i + 2].strip()), None)
    if stop is None:
        pytest.skip(f"random model produced no usable stop string in {text!r}")
    deltas: list[str] = []
    cut = model.generate(enc, prompt, max_new_tokens=30, repetition_penalty=1.2, stop_strings=[stop],
                         on_text=deltas.append)
    assert cut.stopped_by == "stop_string"
    assert cut.text == text[: text.find(stop)]
    assert "".join(deltas) == cut.text
    assert len(cut.token_ids) < len(full.token_ids)


@pytest.mark.parametrize("option, value", [
    ("repetition_penalty", 0), ("repetition_penalty", -1.0), ("top_k", -5), ("max_new_tokens", 2.5),
    ("max_new_tokens", True), ("max_new_tokens", "95"), ("seed", "abc"), ("seed", 1.5), ("seed", -1),
    ("stop_strings", 5), ("stop_strings", ["ok", 3]), ("temperature", float("nan")), ("num_beams", 2.0),
    ("do_sample", "yes"), ("length_penalty", float("inf")), ("top_p", 0),
])
def test_out_of_range_or_mistyped_options_are_refused_naming_the_option(option, value):
    with pytest.raises(ModelError, match=rf"invalid generation option {option}="):
        GenerationConfig.from_dict({}, **{option: value})


def test_bad_defaults_are_refused_and_good_values_normalised():
    with pytest.raises(ModelError, match="max_new_tokens=None"):
        GenerationConfig.from_dict({"max_new_tokens": None})  # null in a generation_config.json
    with pytest.raises(ModelError, match="JSON object"):
        GenerationConfig.from_dict([])  # type: ignore[arg-type]
    cfg = GenerationConfig.from_dict({"max_new_tokens": 95, "seed": None}, top_k=np.int64(3), stop_strings="END",
                                     temperature=1, seed=None)
    assert (cfg.top_k, type(cfg.top_k), cfg.stop_strings, cfg.seed, cfg.max_new_tokens) == (3, int, ("END",), None, 95)
    assert GenerationConfig.from_dict({}, eos_token_id=-1).eos_token_id == -1  # the benchmark: never stop early


def test_a_bad_option_is_refused_before_decoding(tiny_model_dir):
    model = load_model(tiny_model_dir, device="cpu")
    s = model.config["vision_config"]["image_size"]
    enc = model.encode_inputs(np.zeros((1, 1, s, s), np.float32), [1], [0])
    with pytest.raises(ModelError, match="repetition_penalty"):
        model.generate(enc, report_prompt("cxr", model.num_image_tokens), repetition_penalty=0)
