"""A saved transformers folder converts offline (safetensors in, community layout out) and runs identically."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from community_factories import tiny_idefics3

from radfound.engine.families import load_community_model
from radfound.export.families import common


def test_convert_saved_folder_and_import(tmp_path, images, idefics3):
    model, tok, proc = tiny_idefics3()
    hf = tmp_path / "hf-snapshot"
    model.save_pretrained(hf)  # safetensors
    tok.save(str(hf / "tokenizer.json"))
    (hf / "preprocessor_config.json").write_text(json.dumps(proc.to_dict()))
    out = tmp_path / "converted"
    r = subprocess.run([sys.executable, "-m", "radfound.export.families", str(hf), str(out), "--licence", "Apache-2.0"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not list(hf.glob("*.bin")) and list(hf.glob("*.safetensors"))
    converted = load_community_model(out, device="cpu")
    reference = load_community_model(idefics3[2], device="cpu")  # exported from the in-memory model
    enc = converted.encode_images(images)
    np.testing.assert_allclose(enc.image_features, reference.encode_images(images).image_features, rtol=1e-5, atol=1e-6)
    ids = converted.prompt_ids(enc, "what size is the heart")
    assert (converted.generate_ids(ids, enc.image_features, max_new_tokens=10).token_ids
            == reference.generate_ids(ids, enc.image_features, max_new_tokens=10).token_ids)
    assert json.loads((out / "manifest.json").read_text())["licence"] == "Apache-2.0"


def test_convert_refuses_a_folder_without_tokenizer(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    r = subprocess.run([sys.executable, "-m", "radfound.export.families", str(tmp_path), str(tmp_path / "out")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no tokenizer.json" in r.stderr and not (tmp_path / "out").exists()


def test_large_graphs_keep_weights_in_onnx_data(monkeypatch, tmp_path, images, gemma3):
    from community_factories import GEMMA3_SEED, tiny_gemma3

    from radfound.export.families import export_community

    monkeypatch.setattr(common, "EXTERNAL_DATA_BYTES", 0)  # treat every graph as "over 2 GB"
    model, tok, proc = tiny_gemma3(GEMMA3_SEED)
    out = export_community(model, tok, tmp_path / "external", image_processor=proc)
    assert sorted(p.name for p in (out / "onnx").iterdir()) == sorted(
        f"{g}.onnx{s}" for g in ("vision_encoder", "embed_tokens", "decoder_model_merged") for s in ("", "_data"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert "onnx/decoder_model_merged.onnx_data" in manifest["files"]
    external = load_community_model(out, device="cpu")
    reference = load_community_model(gemma3[2], device="cpu")
    enc = reference.encode_images(images)
    ids = reference.prompt_ids(enc, "is there any effusion")
    assert (external.generate_ids(ids, enc.image_features, max_new_tokens=8).token_ids
            == reference.generate_ids(ids, enc.image_features, max_new_tokens=8).token_ids)
