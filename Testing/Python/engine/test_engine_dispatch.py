"""load_model takes a folder, an installed model's name or nothing, and hands community folders to their family."""

from __future__ import annotations

from pathlib import Path

import pytest

from radfound.engine import RadFoundModel, load_model
from radfound.errors import ModelError


def test_installed_model_is_found_by_name(tiny_model_dir, tmp_path, monkeypatch):
    from radfound.registry.store import import_model

    monkeypatch.setenv("RADFOUND_MODELS", str(tmp_path / "store"))
    import_model(tiny_model_dir)
    model = load_model("radfound-tiny", device="cpu")
    assert isinstance(model, RadFoundModel) and model.model_dir.parent == tmp_path / "store"
    with pytest.raises(ModelError, match="no model called 'radfound-nope'"):
        load_model("radfound-nope")


def test_community_folder_runs_through_the_same_entry_point(tmp_path, pydicom_data, monkeypatch):
    pytest.importorskip("transformers", reason="transformers builds the tiny community model")
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "community"))
    from community_factories import GEMMA3_SEED, tiny_gemma3

    from radfound.export.families import export_community
    from radfound.study.reader import read_study
    from radfound.tasks.vqa import answer_question

    model, tok, proc = tiny_gemma3(GEMMA3_SEED)
    folder = export_community(model, tok, tmp_path / "tiny-gemma3", image_processor=proc, name="tiny-gemma3")
    engine = load_model(folder, device="cpu")
    assert type(engine).__name__ == "CommunityVLModel" and engine.provider == "CPUExecutionProvider"
    answer = answer_question(engine, read_study(pydicom_data("RG1_UNCR.dcm")), "Is there an effusion?",
                             max_new_tokens=4)
    assert answer.model == "tiny-gemma3" and answer.timings.new_tokens >= 1


def _community_folder(root, *, config, preprocessor=None, tokenizer_text=None):
    """A gemma3-layout folder with one-node graphs: enough for the loader to reach its config checks."""
    import json

    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer, models

    from radfound.registry.manifest import write_manifest

    (root / "onnx").mkdir(parents=True)
    for stem, i, o in (("vision_encoder", "pixel_values", "image_features"), ("embed_tokens", "input_ids",
                       "inputs_embeds"), ("decoder_model_merged", "inputs_embeds", "logits")):
        graph = helper.make_graph([helper.make_node("Identity", [i], [o])], stem,
                                  [helper.make_tensor_value_info(i, TensorProto.FLOAT, None)],
                                  [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
                  str(root / "onnx" / f"{stem}.onnx"))
    (root / "config.json").write_text(json.dumps(config))
    (root / "preprocessor_config.json").write_text(json.dumps(preprocessor or {}))
    if tokenizer_text is None:
        Tokenizer(models.WordLevel({"<unk>": 0, "<bos>": 2, "<image>": 4}, unk_token="<unk>")).save(
            str(root / "tokenizer.json"))
    else:
        (root / "tokenizer.json").write_text(tokenizer_text)
    write_manifest(root, name=root.name, family="gemma3")
    return root


GEMMA_TEXT = {"num_hidden_layers": 1, "num_key_value_heads": 1, "hidden_size": 8, "num_attention_heads": 2,
              "vocab_size": 16, "eos_token_id": 1}


@pytest.mark.parametrize("case, kwargs, file, key", [
    ("bad-tokenizer", {"tokenizer_text": '{"model": 3}'}, "tokenizer.json", "tokenizer.json cannot be read"),
    ("no-layers", {"config": {"model_type": "gemma3", "image_token_index": 4,
                              "text_config": {k: v for k, v in GEMMA_TEXT.items() if k != "num_hidden_layers"}}},
     "config.json", "text_config.num_hidden_layers"),
    ("resample-name", {"preprocessor": {"resample": "bilinear"}}, "preprocessor_config.json", "resample"),
    ("size-text", {"preprocessor": {"size": {"height": "896", "width": 896}}}, "preprocessor_config.json", "size"),
    # JSON's NaN and a zero std would turn every pixel into NaN or infinity: refused when loading
    ("rescale-nan", {"preprocessor": {"rescale_factor": float("nan")}}, "preprocessor_config.json", "rescale_factor"),
    ("std-zero", {"preprocessor": {"image_std": [0.5, 0.0, 0.5]}}, "preprocessor_config.json", "image_std"),
    ("mean-infinite", {"preprocessor": {"image_mean": float("inf")}}, "preprocessor_config.json", "image_mean"),
    ("config-list", {"config": [1, 2]}, "config.json", "JSON object"),
    ("token-text", {"config": {"model_type": "gemma3", "image_token_index": "4", "text_config": GEMMA_TEXT}},
     "config.json", "image_token_index"),
])
def test_community_folder_problems_are_model_errors_naming_the_file(tmp_path, case, kwargs, file, key):
    kwargs = {"config": {"model_type": "gemma3", "image_token_index": 4, "text_config": GEMMA_TEXT}, **kwargs}
    folder = _community_folder(tmp_path / case, **kwargs)
    with pytest.raises(ModelError) as err:
        load_model(folder, device="cpu")
    assert err.value.path.endswith(file) and key in err.value.problem, str(err.value)


def test_community_decoder_without_the_cache_config_json_describes_is_named(tmp_path):
    folder = _community_folder(tmp_path / "no-cache",
                               config={"model_type": "gemma3", "image_token_index": 4, "text_config": GEMMA_TEXT})
    with pytest.raises(ModelError, match="past_key_values.0.key") as err:
        load_model(folder, device="cpu")
    assert err.value.path.endswith("decoder_model_merged.onnx")


def test_community_genai_config_that_is_not_an_object_is_named(tmp_path):
    folder = _community_folder(tmp_path / "genai",
                               config={"model_type": "gemma3", "image_token_index": 4, "text_config": GEMMA_TEXT})
    (folder / "genai_config.json").write_text('{"model": []}')
    from radfound.registry.manifest import write_manifest

    (folder / "manifest.json").unlink()
    write_manifest(folder, name="genai", family="gemma3")
    with pytest.raises(ModelError, match="genai_config.json must be an object") as err:
        load_model(folder, device="cpu")
    assert err.value.path.endswith("genai_config.json")
