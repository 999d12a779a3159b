"""Each family's numpy/Pillow preprocessing and prompt ids equal transformers' own processors."""

from __future__ import annotations

import numpy as np
import pytest
from community_factories import tiny_gemma3, tiny_idefics3
from transformers import Gemma3Processor, Idefics3Processor, PreTrainedTokenizerFast

from radfound.engine.families.gemma3 import Gemma3Family
from radfound.engine.families.idefics3 import Idefics3Family

SHAPES = [(50, 70), (90, 40), (20, 20), (33, 130), (200, 180)]


def picture(h, w):
    rng = np.random.default_rng(h * 1000 + w)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def family_and_processor(name, **kwargs):
    if name == "smolvlm":
        name, kwargs = "idefics3", {**kwargs, "smolvlm": True}
    model, tok, proc = (tiny_gemma3 if name == "gemma3" else tiny_idefics3)(**kwargs)
    cls = Gemma3Family if name == "gemma3" else Idefics3Family
    extra = {"image_seq_len": 4} if name != "gemma3" else {}
    return cls(model.config.to_dict(), {**proc.to_dict(), **extra}, tok), proc, tok


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("name", "kwargs"), [("gemma3", {}), ("idefics3", {"splitting": True}),
                                              ("idefics3", {"splitting": False}), ("smolvlm", {})])
def test_pixels_equal_transformers(name, kwargs, shape):
    family, proc, _ = family_and_processor(name, **kwargs)
    image = picture(*shape)
    ours, texts = family.vision_inputs([image])
    theirs = proc(images=[image] if name == "gemma3" else [[image]], return_tensors="np")
    assert ours["pixel_values"].shape == theirs["pixel_values"].shape
    np.testing.assert_allclose(ours["pixel_values"], theirs["pixel_values"], atol=1e-6)
    if "pixel_attention_mask" in theirs:
        np.testing.assert_array_equal(ours["pixel_attention_mask"], theirs["pixel_attention_mask"])


def test_prompt_ids_equal_transformers_processors():
    images = [picture(50, 70), picture(33, 130)]
    question = "is there any effusion"

    family, proc, tok = family_and_processor("idefics3")
    processor = Idefics3Processor(image_processor=proc, tokenizer=PreTrainedTokenizerFast(tokenizer_object=tok),
                                  image_seq_len=4)
    _, texts = family.vision_inputs(images)
    ours = tok.encode(family.prompt(texts, question), add_special_tokens=False).ids
    text = f"<|im_start|>User:<image><image>{question}<end_of_utterance>\nAssistant:"
    theirs = processor(text=[text], images=[images], return_tensors="np", add_special_tokens=False)["input_ids"][0]
    assert ours == theirs.tolist() and ours.count(family.image_token_id) == 4 * (5 + 3)  # 2x2 tiles + global, 1x2 tiles + global

    family, proc, tok = family_and_processor("gemma3")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, extra_special_tokens={
        "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"})
    processor = Gemma3Processor(image_processor=proc, tokenizer=fast, image_seq_length=4)
    _, texts = family.vision_inputs(images)
    ours = tok.encode(family.prompt(texts, question), add_special_tokens=False).ids
    text = f"<bos><start_of_turn>user\n<start_of_image><start_of_image>{question}<end_of_turn>\n<start_of_turn>model\n"
    theirs = processor(text=[text], images=[images], return_tensors="np", add_special_tokens=False)["input_ids"][0]
    assert ours == theirs.tolist() and ours.count(family.image_token_id) == 8
