"""The exported folder: onnx-community layout and I/O names, manifest, checkpoints, precision variants."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from radfound.engine import load_model  # noqa: E402
from radfound.errors import ModelError  # noqa: E402
from radfound.export.onnx_export import export_model  # noqa: E402
from radfound.modeling.checkpoint import (  # noqa: E402
    average_checkpoints,
    build_model,
    load_checkpoint,
    save_checkpoint,
)
from radfound.registry.manifest import verify_model_dir  # noqa: E402
from radfound.tasks.prompts import report_prompt  # noqa: E402


def test_community_layout_and_manifest(tiny_model_dir):
    for rel in ("onnx/vision_encoder.onnx", "onnx/embed_tokens.onnx", "onnx/decoder_model_merged.onnx",
                "config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json"):
        assert (tiny_model_dir / rel).is_file(), rel
    manifest = verify_model_dir(tiny_model_dir)
    on_disk = {p.relative_to(tiny_model_dir).as_posix() for p in tiny_model_dir.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk - {"manifest.json"}
    assert manifest["model_version"] and manifest["licence"] and manifest["provenance"]


def test_decoder_io_names_follow_the_community_contract(tiny_model_dir):
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    layers = cfg["text_config"]["num_layers"]
    sess = ort.InferenceSession(str(tiny_model_dir / "onnx/decoder_model_merged.onnx"),
                                providers=["CPUExecutionProvider"])
    cache = [f"{i}.{k}" for i in range(layers) for k in ("key", "value")]
    assert [i.name for i in sess.get_inputs()] == (["inputs_embeds", "attention_mask", "position_ids"]
                                                   + [f"past_key_values.{c}" for c in cache])
    assert [o.name for o in sess.get_outputs()] == ["logits"] + [f"present.{c}" for c in cache]
    vision = ort.InferenceSession(str(tiny_model_dir / "onnx/vision_encoder.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in vision.get_inputs()] == ["pixel_values", "view_ids", "positions"]
    assert [o.name for o in vision.get_outputs()] == ["image_features"]


def test_config_json_carries_what_the_engine_needs(tiny_model_dir):
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    gen = json.loads((tiny_model_dir / "generation_config.json").read_text())
    pre = json.loads((tiny_model_dir / "preprocessor_config.json").read_text())
    assert cfg["model_type"] == "radfound" and cfg["image_token_id"] == 4
    assert cfg["num_image_tokens"] == cfg["vision_config"]["num_image_tokens"]
    assert gen["eos_token_id"] == cfg["eos_token_id"] == 2
    assert pre["image_size"] == cfg["vision_config"]["image_size"]


def test_checkpoint_round_trip_through_the_cli(tmp_path):
    model, tok = build_model("tiny", seed=3)
    ckpt = save_checkpoint(tmp_path / "ckpt.pt", model, tok,
                           meta={"model_version": "0.0.1-test", "provenance": {"training_data": "none"}})
    again, tok2, _ = load_checkpoint(ckpt)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert tok2.to_str() == tok.to_str()
    out = tmp_path / "model"
    r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "export", str(ckpt), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    loaded = load_model(out, device="cpu")
    assert loaded.version == "0.0.1-test"
    r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "export", str(ckpt), str(out)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "not empty" in r.stderr and "Traceback" not in r.stderr


def test_weight_average_is_the_mean_of_the_parents_and_exports(tmp_path):
    a, tok = build_model("tiny", seed=3)
    b, _ = build_model("tiny", seed=4, tokenizer=tok)
    pa = save_checkpoint(tmp_path / "a.pt", a, tok, meta={"model_version": "0.0.1-a"})
    pb = save_checkpoint(tmp_path / "b.pt", b, tok, meta={"model_version": "0.0.1-b"})
    avg, _, payload = average_checkpoints([pa, pb])
    sa, sb, sm = a.state_dict(), b.state_dict(), avg.state_dict()
    moved = [k for k in sm if sm[k].is_floating_point() and not torch.equal(sa[k], sb[k])]
    assert moved, "two seeds should give different weights"
    for k in moved:
        torch.testing.assert_close(sm[k], (sa[k] + sb[k]) / 2)
    assert [p["model_version"] for p in payload["meta"]["provenance"]["weight_average_of"]] == ["0.0.1-a", "0.0.1-b"]
    assert payload["meta"]["model_version"] == "0.0.1-a+avg2"

    out = tmp_path / "soup"
    r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "export", str(pa), str(out),
                        "--average-with", str(pb), "--model-version", "0.0.1-soup"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    manifest = verify_model_dir(out)
    assert manifest["model_version"] == "0.0.1-soup"
    assert [p["checkpoint"] for p in manifest["provenance"]["weight_average_of"]] == ["a.pt", "b.pt"]


def test_weight_average_refuses_a_different_architecture(tmp_path):
    a, tok = build_model("tiny", seed=3)
    pa = save_checkpoint(tmp_path / "a.pt", a, tok)
    pb = save_checkpoint(tmp_path / "b.pt", a, tok)
    payload = torch.load(pb, weights_only=True)
    payload["config"] = {**payload["config"], "name": "something-else"}
    torch.save(payload, pb)
    with pytest.raises(ModelError) as err:
        average_checkpoints([pa, pb])
    assert str(pb) in str(err.value) and "config differs" in str(err.value)
    r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "export", str(pa), str(tmp_path / "o"),
                        "--average-with", str(pb)], capture_output=True, text=True)
    assert r.returncode == 2 and "config differs" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


class Arbitrary:
    """Any class: loading it would mean running pickled code."""


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "radfound-checkpoint/1", "payload": Arbitrary()}, path)
    with pytest.raises(ModelError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "weights-only" in str(err.value)


def test_not_a_checkpoint_is_a_clear_cli_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "export", str(bad), str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and str(bad) in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    model, tok = build_model("tiny", seed=11)
    return export_model(model, tok, tmp_path_factory.mktemp("variants") / "m", fp16=True, int8=True)


def _first_logits(model_dir, precision):
    m = load_model(model_dir, device="cpu", precision=precision)
    rng = np.random.default_rng(5)
    s = m.config["vision_config"]["image_size"]
    enc = m.encode_inputs(rng.standard_normal((2, 1, s, s)).astype(np.float32), [1, 3], [0, 1])
    embeds = m.prompt_embeds(report_prompt("cxr", m.num_image_tokens), enc)
    m.decoder.start(1)
    n = embeds.shape[1]
    return enc.image_features, m.decoder.step(embeds, np.ones((1, n), np.int64), np.arange(n)[None])


@pytest.mark.parametrize("precision, tolerance", [("fp16", 5e-3), ("int8", 5e-2)])
def test_precision_variants_stay_close_to_fp32(variants, precision, tolerance):
    """Measured on tiny: fp16 ~3e-4 (logits) / 6e-4 (image features); int8 ~1.6e-2 (see docs/engine.md)."""
    f32, l32 = _first_logits(variants, "fp32")
    f, lg = _first_logits(variants, precision)
    assert np.abs(f - f32).max() / np.abs(f32).max() < tolerance
    assert np.abs(lg - l32).max() / np.abs(l32).max() < tolerance
    assert (lg != l32).any()  # really a different graph


def test_int8_only_folder_loads_with_auto_precision(tmp_path):
    model, tok = build_model("tiny", seed=2)
    out = export_model(model, tok, tmp_path / "m", int8=True, keep_fp32=False)
    names = sorted(p.name for p in (out / "onnx").iterdir())
    assert names == ["decoder_model_merged_quantized.onnx", "embed_tokens.onnx", "vision_encoder_quantized.onnx"]
    loaded = load_model(out, device="cpu")
    assert loaded.precision == "int8"
    with pytest.raises(ModelError, match="no fp32 variant|required model file missing"):
        load_model(out, device="cpu", precision="fp32")


def test_large_graphs_use_external_data_and_still_load(tmp_path, monkeypatch):
    """Graphs over the 2 GB protobuf limit go to <graph>.onnx_data; the threshold is lowered to prove it on tiny."""
    import radfound.assembly.decoder_graph as gqa
    import radfound.export.onnx_export as onnx_export

    monkeypatch.setattr(gqa, "EXTERNAL_DATA_BYTES", 0)
    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_BYTES", 0)
    model, tok = build_model("tiny", seed=4)
    out = export_model(model, tok, tmp_path / "m")
    files = sorted(p.name for p in (out / "onnx").iterdir())
    assert "decoder_model_merged.onnx_data" in files and "vision_encoder.onnx_data" in files
    assert (out / "onnx" / "decoder_model_merged.onnx").stat().st_size < 100_000  # weights are outside
    assert "onnx/decoder_model_merged.onnx_data" in verify_model_dir(out)["files"]
    engine = load_model(out, device="cpu")
    ids = [1, 5] + [4] * model.config.vision.num_image_tokens + [20, 21, 6]
    s = model.config.vision.image_size
    px = np.random.default_rng(0).standard_normal((1, 1, s, s)).astype(np.float32)
    enc = engine.encode_inputs(px, [1], [0])
    with torch.no_grad():
        feats = model.encode(torch.from_numpy(px), torch.tensor([1]), torch.tensor([0]))
        ref = model.greedy(ids, feats, max_new_tokens=8, eos_id=2)
    embeds = engine.embed(np.array([ids]))
    embeds[0, np.array(ids) == 4] = enc.image_features
    from radfound.engine.generation import GenerationConfig, generate
    from radfound.engine.streaming import TextStream

    ours = generate(engine.decoder, engine.embed, embeds, GenerationConfig(max_new_tokens=8),
                    TextStream(engine.tokenizer))
    assert ours.token_ids == [t for t in ref if t != 2]


def test_auto_precision_pairs_a_float32_vision_encoder_with_an_int8_decoder(tmp_path):
    """radfound-base's layout: only vision_encoder.onnx and decoder_model_merged_quantized.onnx."""
    model, tok = build_model("tiny", seed=2)
    out = export_model(model, tok, tmp_path / "m", int8=True)
    for stale in ("decoder_model_merged.onnx", "vision_encoder_quantized.onnx"):
        (out / "onnx" / stale).unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    from radfound.registry.manifest import write_manifest

    write_manifest(out, **{k: v for k, v in manifest.items() if k != "files"})
    loaded = load_model(out, device="cpu")
    assert (loaded.vision_precision, loaded.precision) == ("fp32", "int8")
    with pytest.raises(ModelError, match="no int8 variant of vision_encoder"):
        load_model(out, device="cpu", precision="int8")
