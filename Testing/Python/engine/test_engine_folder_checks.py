"""A model folder whose files pass the manifest but disagree with each other is refused at load, naming the file
and the key or tensor (not an ONNX Runtime, numpy or KeyError at the first question)."""

from __future__ import annotations

import json
import shutil

import pytest

from radfound.engine import load_model
from radfound.errors import IntegrityError, ModelError
from radfound.registry.manifest import read_manifest, write_manifest


def _copy(src, dst, edit):
    """A copy of the tiny model with ``edit(folder)`` applied and its manifest rewritten (so the hashes pass)."""
    folder = shutil.copytree(src, dst)
    edit(folder)
    meta = {k: v for k, v in read_manifest(folder).items() if k != "files"}
    (folder / "manifest.json").unlink()
    write_manifest(folder, **meta)
    return folder


def _json(rel, change):
    def edit(folder):
        path = folder / rel
        data = json.loads(path.read_text())
        path.write_text(json.dumps(change(data)))
    return edit


def _text(**values):
    def change(config):
        config["text_config"].update(values)
        return config
    return change


def _rename(graph, old, new, output=False):
    def edit(folder):
        onnx = pytest.importorskip("onnx")
        path = folder / "onnx" / f"{graph}.onnx"
        model = onnx.load(str(path))
        for value in (model.graph.output if output else model.graph.input):
            if value.name == old:
                value.name = new
        for node in model.graph.node:
            names = node.output if output else node.input
            for i, name in enumerate(names):
                if name == old:
                    names[i] = new
        onnx.save(model, str(path))
    return edit


def _without(rel):
    return lambda folder: (folder / rel).unlink()


CASES = {
    # D3: graphs that do not match config.json
    "one layer too many": (_json("config.json", _text(num_layers=3)), "decoder_model_merged.onnx",
                           "past_key_values.2.key"),
    "one layer too few": (_json("config.json", _text(num_layers=1)), "decoder_model_merged.onnx",
                          "past_key_values.1.key"),
    "hidden size": (_json("config.json", _text(hidden_size=128)), "embed_tokens.onnx", "text_config.hidden_size"),
    "kv heads": (_json("config.json", _text(num_kv_heads=4)), "decoder_model_merged.onnx", "text_config.num_kv_heads"),
    "vocabulary": (_json("config.json", _text(vocab_size=1000)), "decoder_model_merged.onnx", "vocab_size"),
    "visual tokens": (_json("config.json", lambda c: {**c, "num_image_tokens": 16}), "vision_encoder.onnx",
                      "num_image_tokens"),
    "decoder input renamed": (_rename("decoder_model_merged", "inputs_embeds", "hidden_in"),
                              "decoder_model_merged.onnx", "inputs_embeds"),
    "vision output renamed": (_rename("vision_encoder", "image_features", "feats", output=True),
                              "vision_encoder.onnx", "image_features"),
    "embed input renamed": (_rename("embed_tokens", "input_ids", "ids"), "embed_tokens.onnx", "input_ids"),
    "image size": (_json("preprocessor_config.json", lambda p: {**p, "image_size": 32}), "vision_encoder.onnx",
                   "image_size"),
    # D4: config files that cannot be used
    "config is a list": (lambda f: (f / "config.json").write_text("[1, 2]"), "config.json", "JSON object"),
    "no text_config": (_json("config.json", lambda c: {k: v for k, v in c.items() if k != "text_config"}),
                       "config.json", "text_config"),
    "no image_token_id": (_json("config.json", lambda c: {k: v for k, v in c.items() if k != "image_token_id"}),
                          "config.json", "image_token_id"),
    "context as text": (_json("config.json", _text(max_position_embeddings="512")), "config.json",
                        "max_position_embeddings"),
    "max_new_tokens null": (_json("generation_config.json", lambda g: {**g, "max_new_tokens": None}),
                            "generation_config.json", "max_new_tokens"),
    "max_new_tokens text": (_json("generation_config.json", lambda g: {**g, "max_new_tokens": "95"}),
                            "generation_config.json", "max_new_tokens"),
    "max_new_tokens list": (_json("generation_config.json", lambda g: {**g, "max_new_tokens": [95]}),
                            "generation_config.json", "max_new_tokens"),
    "generation config is a list": (lambda f: (f / "generation_config.json").write_text("[]"),
                                    "generation_config.json", "JSON object"),
    "preprocessor is a list": (lambda f: (f / "preprocessor_config.json").write_text("[]"),
                               "preprocessor_config.json", "JSON object"),
    "preprocessor value": (_json("preprocessor_config.json", lambda p: {**p, "image_size": "big"}),
                           "preprocessor_config.json", "big"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_inconsistent_folder_is_refused_naming_the_file_and_key(tiny_model_dir, tmp_path, case):
    edit, file, key = CASES[case]
    folder = _copy(tiny_model_dir, tmp_path / "m", edit)
    with pytest.raises(ModelError) as err:
        load_model(folder, device="cpu")
    assert not isinstance(err.value, IntegrityError)  # the manifest agrees: the files disagree with each other
    assert err.value.path.endswith(file), str(err.value)
    assert key in err.value.problem, str(err.value)


def test_without_preprocessor_config_the_graph_image_size_is_used(tiny_model_dir, tmp_path, pydicom_data):
    """Not the 224 px default, which the vision encoder of a 64 px model refuses at encode time."""
    from radfound.study.reader import read_study
    from radfound.tasks.prompts import vqa_prompt

    folder = _copy(tiny_model_dir, tmp_path / "m", _without("preprocessor_config.json"))
    model = load_model(folder, device="cpu")
    size = model.config["vision_config"]["image_size"]
    assert size != 224 and model.preprocessor_config["image_size"] == size
    enc = model.encode(read_study(pydicom_data("CT_small.dcm")))
    assert enc.image_features.shape[0] == model.num_image_tokens
    assert model.generate(enc, vqa_prompt("What is shown?", model.num_image_tokens), max_new_tokens=2).timings


def test_without_preprocessor_config_or_vision_size_is_refused(tiny_model_dir, tmp_path):
    def edit(folder):
        _without("preprocessor_config.json")(folder)
        _json("config.json", lambda c: {**c, "vision_config": {}})(folder)

    folder = _copy(tiny_model_dir, tmp_path / "m", edit)
    with pytest.raises(ModelError, match="vision_config.image_size") as err:
        load_model(folder, device="cpu")
    assert err.value.path.endswith("preprocessor_config.json")
