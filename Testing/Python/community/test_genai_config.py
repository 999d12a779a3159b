"""An onnxruntime-genai genai_config.json's file and tensor names are honoured."""

from __future__ import annotations

import json
import shutil

import numpy as np
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


class _MergingEmbed:
    """An onnxruntime-genai style embedding graph: input_ids + image_features -> merged inputs_embeds."""

    @staticmethod
    def build(model, image_token_id):
        import torch

        class Merge(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = model.model.language_model.embed_tokens

            def forward(self, input_ids, image_features):
                # as transformers: placeholders take features only when features are given (the prompt)
                given = torch.zeros_like(input_ids) + image_features.shape[0] > 0
                is_image = (input_ids == image_token_id) & given
                embeds = self.embed(torch.where(is_image, torch.zeros_like(input_ids), input_ids))
                padded = torch.cat([image_features, torch.zeros_like(embeds[0, :1])], dim=0)  # row for text tokens
                slot = torch.cumsum(is_image.long(), dim=1) - 1
                slot = torch.where(is_image, slot, torch.full_like(slot, -1))  # -1: the padding row
                return torch.where(is_image[..., None], padded[slot], embeds)

        return Merge()


def test_embedding_graph_that_merges_image_features_itself(gemma3, tmp_path, images):
    import torch

    from radfound.export.families.common import export_graph

    model, _, src = gemma3
    folder = tmp_path / "genai-embedding"
    shutil.copytree(src, folder)
    config = json.loads((folder / "config.json").read_text())
    hidden = config["text_config"]["hidden_size"]
    (folder / "onnx" / "embed_tokens.onnx").unlink()
    export_graph(_MergingEmbed.build(model, config["image_token_index"]),
                 (torch.tensor([[1, 8, 8, 2]]), torch.randn(2, hidden)), folder / "embedding.onnx",
                 ["input_ids", "image_features"], ["inputs_embeds"],
                 {"input_ids": {0: "batch", 1: "sequence"}, "image_features": {0: "num_image_tokens"},
                  "inputs_embeds": {0: "batch", 1: "sequence"}})
    genai = {"model": {"type": "gemma3", "embedding": {
        "filename": "embedding.onnx", "inputs": {"input_ids": "input_ids", "image_features": "image_features"},
        "outputs": {"inputs_embeds": "inputs_embeds"}}}}
    (folder / "genai_config.json").write_text(json.dumps(genai))
    write_manifest(folder, name="genai-embedding", family="gemma3")

    merging = CommunityVLModel(folder, device="cpu")
    reference = CommunityVLModel(src, device="cpu")
    enc = reference.encode_images(images)
    ids = reference.prompt_ids(enc, "what size is the heart")
    np.testing.assert_allclose(merging.embed(ids, enc.image_features), reference.embed(ids, enc.image_features),
                               atol=1e-6)
    assert (merging.generate_ids(ids, enc.image_features, max_new_tokens=12).token_ids
            == reference.generate_ids(ids, enc.image_features, max_new_tokens=12).token_ids)
