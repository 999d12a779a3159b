"""An onnxruntime-genai genai_config.json's file and tensor names are honoured."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest

from radfound.engine.families.community import CommunityVLModel
from radfound.errors import ModelError
from radfound.registry.manifest import write_manifest


def rename_tensors(path, out, mapping):
    model = onnx.load(str(path))
    g = model.graph
    for node in g.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    for value in [*g.input, *g.output]:
        value.name = mapping.get(value.name, value.name)
    onnx.save(model, str(out))


@pytest.fixture(scope="module")
def genai_folder(gemma3, tmp_path_factory):
    _, _, src = gemma3
    folder = tmp_path_factory.mktemp("genai") / "gemma3-genai"
    shutil.copytree(src, folder)
    layers = json.loads((folder / "config.json").read_text())["text_config"]["num_hidden_layers"]
    mapping = {"inputs_embeds": "embeds", "logits": "lm_logits"}
    for i in range(layers):
        for kind in ("key", "value"):
            mapping[f"past_key_values.{i}.{kind}"] = f"past_{kind}_{i}"
            mapping[f"present.{i}.{kind}"] = f"present_{kind}_{i}"
    rename_tensors(folder / "onnx" / "decoder_model_merged.onnx", folder / "decoder.onnx", mapping)
    (folder / "onnx" / "decoder_model_merged.onnx").unlink()
    genai = {"model": {"type": "gemma3", "decoder": {
        "filename": "decoder.onnx",
        "inputs": {"inputs_embeds": "embeds", "attention_mask": "attention_mask", "position_ids": "position_ids",
                   "past_key_names": "past_key_%d", "past_value_names": "past_value_%d"},
        "outputs": {"logits": "lm_logits", "present_key_names": "present_key_%d",
                    "present_value_names": "present_value_%d"}}}}
    (folder / "genai_config.json").write_text(json.dumps(genai))
    write_manifest(folder, name="gemma3-genai", family="gemma3")
    return folder


def test_renamed_graph_gives_the_same_tokens(gemma3, genai_folder, images):
    _, _, original = gemma3
    reference = CommunityVLModel(original, device="cpu")
    renamed = CommunityVLModel(genai_folder, device="cpu")
    assert renamed.names.decoder.file.name == "decoder.onnx"
    assert {i.name for i in renamed.decoder.session.get_inputs()} >= {"embeds", "past_key_0", "past_value_1"}
    enc = reference.encode_images(images)
    ids = reference.prompt_ids(enc, "what size is the heart")
    expected = reference.generate_ids(ids, enc.image_features, max_new_tokens=12).token_ids
    assert renamed.generate_ids(ids, enc.image_features, max_new_tokens=12).token_ids == expected
    assert len(expected) == 12


def test_genai_config_naming_a_missing_file(genai_folder, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(genai_folder, folder)
    (folder / "decoder.onnx").unlink()
    write_manifest(folder, name="broken", family="gemma3")
    with pytest.raises(ModelError, match=r"decoder\.onnx: genai_config.json names a graph file that does not exist"):
        CommunityVLModel(folder, device="cpu")
