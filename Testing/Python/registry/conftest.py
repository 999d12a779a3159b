"""A small but real model folder (a runnable ONNX graph, a real tokenizer, a manifest) and an empty store."""

from __future__ import annotations

import json

import pytest

import radfound.assembly.build as build
from radfound.registry import store
from radfound.registry.manifest import write_manifest


def make_model_folder(root, name="tiny-test", family="radfound"):
    """Write a folder ONNX Runtime can load: onnx/decoder_model_merged.onnx, config.json, tokenizer.json."""
    import onnx
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer, models

    (root / "onnx").mkdir(parents=True)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), root / "onnx" / "decoder_model_merged.onnx")
    (root / "config.json").write_text(json.dumps({"model_type": family}))
    Tokenizer(models.WordLevel({"[UNK]": 0, "normal": 1, "chest": 2}, unk_token="[UNK]")).save(str(root / "tokenizer.json"))
    write_manifest(root, name=name, family=family, model_version="0.0.1", licence="Apache-2.0", source="test fixture")
    return root


@pytest.fixture()
def model_folder(tmp_path):
    return make_model_folder(tmp_path / "src" / "tiny-test")


@pytest.fixture()
def user_store(tmp_path, monkeypatch):
    """An empty per-user store (RADFOUND_MODELS) and an empty shipped-models folder and index."""
    user = tmp_path / "user-models"
    monkeypatch.setenv("RADFOUND_MODELS", str(user))
    shipped = tmp_path / "Resources" / "models"
    shipped.mkdir(parents=True)
    monkeypatch.setattr(store, "SHIPPED_MODELS_DIR", shipped)
    monkeypatch.setattr(store, "INDEX_PATH", tmp_path / "Resources" / "models.json")
    monkeypatch.setattr(build, "KITS_DIR", tmp_path / "Resources" / "kits")  # no model kits either
    monkeypatch.setenv("RADFOUND_REGISTRY", str(tmp_path / "Resources" / "registry.json"))  # nor installable ones
    return user
