"""The engine's greedy output equals transformers' generate() token for token (tiny random models, offline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radfound.engine.families.community import CommunityVLModel

QUESTIONS = ["is there any effusion in the left lung", "what size is the heart"]


def hf_greedy(model, ids, feeds, max_new_tokens, token_type_ids=None):
    inputs = {k: torch.from_numpy(v) for k, v in feeds.items()}
    if token_type_ids is not None:  # what Gemma3Processor returns: 1 on image tokens
        inputs["token_type_ids"] = torch.from_numpy(token_type_ids)[None]
    with torch.no_grad():
        out = model.generate(input_ids=torch.from_numpy(ids)[None], attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             **inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return out[0, len(ids) :].tolist()


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("family", ["gemma3", "gemma3_causal", "idefics3", "smolvlm"])
def test_greedy_tokens_match_transformers(family, question, request, images):
    """gemma3: bidirectional attention inside each image, against generate() given token_type_ids;
    gemma3_causal: a decoder without token_type_ids, against generate() without them."""
    model, _, folder = request.getfixturevalue(family)
    engine = CommunityVLModel(folder, device="cpu")
    encoded = engine.encode_images(images)
    ids = engine.prompt_ids(encoded, question)
    assert (ids == engine.family.image_token_id).sum() == encoded.image_features.shape[0] > 0

    ours = engine.generate_ids(ids, encoded.image_features, max_new_tokens=24)
    feeds, _ = engine.family.vision_inputs(images)
    types = (ids == engine.family.image_token_id).astype(np.int64) if family == "gemma3" else None
    assert engine.decoder.has_types == (family == "gemma3")
    theirs = hf_greedy(model, ids, feeds, 24, types)
    if theirs[-1] in engine.eos_ids:  # transformers keeps the end-of-sequence token, the engine stops on it
        assert ours.stopped_by == "eos"
        theirs = theirs[:-1]
    assert ours.token_ids == theirs
    assert len(theirs) >= 12 and len(set(theirs)) >= 3  # a real comparison, not one early stop


@pytest.mark.parametrize("family", ["gemma3", "idefics3", "smolvlm"])
def test_image_features_match_transformers(family, request, images):
    model, _, folder = request.getfixturevalue(family)
    engine = CommunityVLModel(folder, device="cpu")
    feeds, _ = engine.family.vision_inputs(images)
    inputs = {k: torch.from_numpy(v) for k, v in feeds.items()}
    with torch.no_grad():
        theirs = model.get_image_features(**inputs).pooler_output
    theirs = torch.cat(list(theirs)) if isinstance(theirs, (list, tuple)) else theirs
    theirs = theirs.reshape(-1, theirs.shape[-1]).numpy()
    np.testing.assert_allclose(engine.encode_images(images).image_features, theirs, rtol=1e-4, atol=1e-5)


def test_bidirectional_image_attention_changes_the_output(gemma3, gemma3_causal, images):
    """The two Gemma 3 exports are not interchangeable: the image-block mask really reaches the logits."""
    both = [CommunityVLModel(f[2], device="cpu") for f in (gemma3, gemma3_causal)]
    enc = both[0].encode_images(images)
    ids = both[0].prompt_ids(enc, QUESTIONS[0])
    logits = []
    for engine in both:
        engine.decoder.prefill_token_types = (ids == engine.family.image_token_id).astype(np.int64)[None]
        engine.decoder.start(1)
        logits.append(engine.decoder.step(engine.embed(ids, enc.image_features), np.ones((1, len(ids)), np.int64),
                                          np.arange(len(ids), dtype=np.int64)[None]))
    finite = np.isfinite(logits[0]) & np.isfinite(logits[1])  # folded extra end-of-sequence ids are -inf in both
    assert np.array_equal(finite, np.isfinite(logits[1]))
    assert np.abs(logits[0][finite] - logits[1][finite]).max() > 2e-5  # float noise between two graphs is ~1e-7


@pytest.mark.parametrize("num_beams", [1, 3])
def test_bound_cache_gives_the_same_tokens(gemma3, images, num_beams):
    """The IOBinding path used on CUDA (cache kept on the device), run here with the cache bound on the CPU."""
    from radfound.engine.families.decoder import NamedDecoder

    plain = CommunityVLModel(gemma3[2], device="cpu")
    bound = CommunityVLModel(gemma3[2], device="cpu")
    d = plain.decoder
    bound.decoder = NamedDecoder(d.session, plain.names, d.num_layers, d.kv, d.hd, plain.eos_ids, cache_device="cpu")
    enc = plain.encode_images(images)
    ids = plain.prompt_ids(enc, QUESTIONS[1])
    expected = plain.generate_ids(ids, enc.image_features, max_new_tokens=12, num_beams=num_beams).token_ids
    assert bound.generate_ids(ids, enc.image_features, max_new_tokens=12, num_beams=num_beams).token_ids == expected
    assert len(expected) >= 6
