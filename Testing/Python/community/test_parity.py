"""The engine's greedy output equals transformers' generate() token for token (tiny random models, offline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radfound.engine.families.community import CommunityVLModel

QUESTIONS = ["is there any effusion in the left lung", "what size is the heart"]


def hf_greedy(model, ids, feeds, max_new_tokens):
    inputs = {k: torch.from_numpy(v) for k, v in feeds.items()}
    with torch.no_grad():
        out = model.generate(input_ids=torch.from_numpy(ids)[None], attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             **inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return out[0, len(ids) :].tolist()


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("family", ["gemma3", "idefics3"])
def test_greedy_tokens_match_transformers(family, question, request, images):
    model, _, folder = request.getfixturevalue(family)
    engine = CommunityVLModel(folder, device="cpu")
    encoded = engine.encode_images(images)
    ids = engine.prompt_ids(encoded, question)
    assert (ids == engine.family.image_token_id).sum() == encoded.image_features.shape[0] > 0

    ours = engine.generate_ids(ids, encoded.image_features, max_new_tokens=24)
    feeds, _ = engine.family.vision_inputs(images)
    theirs = hf_greedy(model, ids, feeds, 24)
    if theirs[-1] in engine.eos_ids:  # transformers keeps the end-of-sequence token, the engine stops on it
        assert ours.stopped_by == "eos"
        theirs = theirs[:-1]
    assert ours.token_ids == theirs
    assert len(theirs) >= 12 and len(set(theirs)) >= 3  # a real comparison, not one early stop


@pytest.mark.parametrize("family", ["gemma3", "idefics3"])
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
