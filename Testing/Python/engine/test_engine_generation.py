"""The ORT engine on a real exported (random-weight) tiny model: generation modes, streaming, cancel, timings."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from radfound.engine import load_model
from radfound.engine.generation import beam_search, generate, log_softmax, score_continuations
from radfound.engine.streaming import TextStream
from radfound.errors import GenerationCancelled, ModelError
from radfound.tasks.prompts import report_prompt, vqa_prompt


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_model(tiny_model_dir, device="cpu")


@pytest.fixture(scope="module")
def encoded(model):
    rng = np.random.default_rng(7)
    size = model.config["vision_config"]["image_size"]
    return model.encode_inputs(rng.standard_normal((2, 1, size, size)).astype(np.float32), [1, 3], [0, 1], kind="cxr")


def test_loads_on_cpu_and_reports_provider(model):
    assert model.provider == "CPUExecutionProvider"
    assert model.name == "radfound-tiny"
    assert model.num_image_tokens == model.config["vision_config"]["num_image_tokens"]


def test_encoded_study_has_k_visual_tokens(model, encoded):
    hidden = model.config["text_config"]["hidden_size"]
    assert encoded.image_features.shape == (model.num_image_tokens, hidden)
    assert np.isfinite(encoded.image_features).all()


def test_streamed_deltas_add_up_to_the_text(model, encoded):
    deltas: list[str] = []
    result = model.generate(encoded, report_prompt("cxr", model.num_image_tokens), max_new_tokens=24,
                            on_text=deltas.append)
    assert result.token_ids, "the random model generated nothing"
    assert "".join(deltas) == result.text
    # the random model emits stray bytes: their U+FFFD are dropped from the text (test_engine_streaming.py)
    assert result.text == model.tokenizer.decode(result.token_ids, skip_special_tokens=True).replace("\ufffd", "")
    assert "\ufffd" not in result.text
    t = result.timings
    assert t.new_tokens == len(result.token_ids) and t.ttft_ms > 0 and t.total_ms >= t.ttft_ms


def test_same_prompt_twice_reuses_the_encoding_and_is_deterministic(model, encoded):
    prompt = vqa_prompt("Is there a pleural effusion?", model.num_image_tokens)
    a = model.generate(encoded, prompt, max_new_tokens=16)
    b = model.generate(encoded, prompt, max_new_tokens=16)
    assert a.token_ids == b.token_ids


def test_cancel_between_tokens(model, encoded):
    cancel = threading.Event()
    seen: list[str] = []

    def on_text(delta):
        seen.append(delta)
        cancel.set()

    with pytest.raises(GenerationCancelled):
        model.generate(encoded, report_prompt("cxr", model.num_image_tokens), max_new_tokens=50, on_text=on_text,
                       cancel=cancel, repetition_penalty=1.3)
    assert len(seen) == 1  # stopped right after the token that asked for it


def test_cancel_before_start(model, encoded):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        model.generate(encoded, report_prompt("cxr", model.num_image_tokens), cancel=cancel)


def test_seeded_sampling_is_reproducible_and_seed_dependent(model, encoded):
    prompt = report_prompt("cxr", model.num_image_tokens)
    runs = [model.generate(encoded, prompt, max_new_tokens=20, do_sample=True, seed=s, temperature=1.5, top_k=100,
                           top_p=0.95).token_ids for s in (1, 1, 2)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_beam_with_one_beam_equals_greedy(model, encoded):
    embeds = model.prompt_embeds(report_prompt("cxr", model.num_image_tokens), encoded)
    cfg = model.generation_config(max_new_tokens=20)
    greedy = generate(model.decoder, model.embed, embeds, cfg, TextStream(model.tokenizer))
    beam = beam_search(model.decoder, model.embed, embeds, cfg, TextStream(model.tokenizer))
    assert beam.token_ids == greedy.token_ids


def test_beam_search_says_why_it_stopped_as_greedy_does(model, encoded):
    """stopped_by tells a complete draft (end token) from one cut at the token limit (Draft.truncated)."""
    embeds = model.prompt_embeds(report_prompt("cxr", model.num_image_tokens), encoded)
    cfg = model.generation_config(max_new_tokens=20)
    tokens = generate(model.decoder, model.embed, embeds, cfg, TextStream(model.tokenizer)).token_ids
    for eos, limit, why in ((tokens[3], 20, "eos"), (cfg.eos_token_id, 3, "max_new_tokens")):
        c = dataclasses.replace(cfg, eos_token_id=eos, max_new_tokens=limit)
        greedy = generate(model.decoder, model.embed, embeds, c, TextStream(model.tokenizer))
        beam = beam_search(model.decoder, model.embed, embeds, c, TextStream(model.tokenizer))
        assert greedy.stopped_by == beam.stopped_by == why
        assert beam.token_ids == greedy.token_ids


def test_beam_search_scores_at_least_greedy(model, encoded):
    """Beam search must find a sequence whose total log-probability is >= the greedy one (same length budget)."""
    embeds = model.prompt_embeds(report_prompt("cxr", model.num_image_tokens), encoded)
    n = 6
    greedy = model.generate(encoded, report_prompt("cxr", model.num_image_tokens), max_new_tokens=n)
    beam = model.generate(encoded, report_prompt("cxr", model.num_image_tokens), max_new_tokens=n, num_beams=4,
                          length_penalty=0.0)

    if len(beam.token_ids) == len(greedy.token_ids) == n:
        assert _logprob(model, embeds, beam.token_ids) >= _logprob(model, embeds, greedy.token_ids) - 1e-6


def _logprob(model, embeds, tokens):
    """Reference: sum of the step-wise log-probabilities of ``tokens`` after the prompt, from a fresh cache."""
    model.decoder.start(1)
    k = embeds.shape[1]
    logits = model.decoder.step(embeds, np.ones((1, k), np.int64), np.arange(k)[None])
    total = 0.0
    for tok in tokens:
        total += float(log_softmax(logits[0])[tok])
        length = model.decoder.length
        logits = model.decoder.step(model.embed(np.array([[tok]])), np.ones((1, length + 1), np.int64),
                                    np.array([[length]]))
    return total


def test_scored_answers_are_their_log_probabilities_whatever_the_order(model, encoded):
    """Closed-question scoring: each continuation from a fresh cache, so order and neighbours do not matter."""
    prompt = vqa_prompt("Is there a pleural effusion?", model.num_image_tokens)
    embeds = model.prompt_embeds(prompt, encoded)
    greedy = model.generate(encoded, prompt, max_new_tokens=3).token_ids
    seqs = [greedy[:1], [5, 9, 11], greedy[:3], [40]]
    scores = score_continuations(model.decoder, model.embed, embeds, seqs)
    backwards = score_continuations(model.decoder, model.embed, embeds, seqs[::-1])
    np.testing.assert_allclose(scores, backwards[::-1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(scores, [_logprob(model, embeds, q) for q in seqs], rtol=0, atol=1e-5)
    assert all(s < 0 for s in scores)
    singles = [greedy[:1]] + [[t] for t in range(7, 40) if t != greedy[0]]
    assert int(np.argmax(score_continuations(model.decoder, model.embed, embeds, singles))) == 0  # greedy's pick


def test_scoring_an_empty_answer_is_refused(model, encoded):
    embeds = model.prompt_embeds(vqa_prompt("Is it?", model.num_image_tokens), encoded)
    with pytest.raises(ModelError, match="empty"):
        score_continuations(model.decoder, model.embed, embeds, [[]])


def test_max_new_tokens_is_respected(model, encoded):
    result = model.generate(encoded, report_prompt("cxr", model.num_image_tokens), max_new_tokens=3)
    assert len(result.token_ids) <= 3


def test_unknown_generation_option_is_a_model_error(model, encoded):
    with pytest.raises(ModelError, match="unknown generation option"):
        model.generate(encoded, report_prompt("cxr", model.num_image_tokens), max_tokens=3)


def test_prompt_without_the_right_number_of_image_tokens_is_refused(model, encoded):
    with pytest.raises(ModelError, match="image placeholders"):
        model.generate(encoded, report_prompt("cxr", model.num_image_tokens - 1))
