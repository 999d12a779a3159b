"""The in-place (shared past/present buffer) KV cache gives exactly what the growing community-layout cache gives."""

from __future__ import annotations

import numpy as np
import pytest

from radfound.engine import load_model
from radfound.engine.decoder_runner import CpuDecoder, InPlaceDecoder
from radfound.engine.generation import generate, score_continuations
from radfound.engine.streaming import TextStream
from radfound.tasks.prompts import report_prompt, vqa_prompt


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_model(tiny_model_dir, device="cpu")


def test_gqa_folder_runs_in_place(model):
    assert isinstance(model.decoder, InPlaceDecoder)


@pytest.mark.parametrize("options", [{}, {"num_beams": 3}, {"do_sample": True, "seed": 5, "top_k": 50}])
def test_in_place_and_growing_cache_agree(model, options):
    t = model.config["text_config"]
    growing = CpuDecoder(model.decoder.session, t["num_layers"], t["num_kv_heads"],
                         t["hidden_size"] // t["num_heads"])
    s = model.config["vision_config"]["image_size"]
    enc = model.encode_inputs(np.random.default_rng(9).standard_normal((3, 1, s, s)).astype(np.float32),
                              [4, 5, 6], [0, 1, 2])
    embeds = model.prompt_embeds(report_prompt("mammo", model.num_image_tokens), enc)
    cfg = model.generation_config(max_new_tokens=20, **options)
    a = generate(model.decoder, model.embed, embeds, cfg, TextStream(model.tokenizer))
    b = generate(growing, model.embed, embeds, cfg, TextStream(model.tokenizer))
    assert a.token_ids == b.token_ids and a.text == b.text
    # and the raw logits of every step are bit-identical
    n = embeds.shape[1]
    model.decoder.start(1, capacity=n + 3)
    growing.start(1)
    for step in range(3):
        e = embeds if step == 0 else model.embed(np.array([[11 + step]]))
        length = model.decoder.length
        mask = np.ones((1, length + e.shape[1]), np.int64)
        pos = np.arange(length, length + e.shape[1])[None]
        np.testing.assert_array_equal(model.decoder.step(e, mask, pos), growing.step(e, mask, pos))


def test_scored_answers_agree_between_in_place_and_growing_cache(model):
    """Closed-answer scoring copies the prefilled cache to one row per answer: both cache kinds must agree."""
    t = model.config["text_config"]
    growing = CpuDecoder(model.decoder.session, t["num_layers"], t["num_kv_heads"],
                         t["hidden_size"] // t["num_heads"])
    s = model.config["vision_config"]["image_size"]
    enc = model.encode_inputs(np.random.default_rng(3).standard_normal((1, 1, s, s)).astype(np.float32), [1], [0])
    embeds = model.prompt_embeds(vqa_prompt("Is there a mass?", model.num_image_tokens), enc)
    answers = [[17, 2], [5, 9, 11, 2], [40], [23, 2]]  # unequal lengths: the short ones are padded
    a = score_continuations(model.decoder, model.embed, embeds, answers)
    b = score_continuations(growing, model.embed, embeds, answers)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_capacity_overflow_is_refused(model):
    s = model.config["vision_config"]["image_size"]
    enc = model.encode_inputs(np.zeros((1, 1, s, s), np.float32), [1], [0])
    embeds = model.prompt_embeds(report_prompt("cxr", model.num_image_tokens), enc)
    model.decoder.start(1, capacity=embeds.shape[1] - 1)
    n = embeds.shape[1]
    with pytest.raises(ValueError, match="capacity"):
        model.decoder.step(embeds, np.ones((1, n), np.int64), np.arange(n)[None])
