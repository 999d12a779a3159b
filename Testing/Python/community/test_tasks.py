"""Community models run the real tasks on real DICOM studies: report, VQA, streaming, cancel, integrity."""

from __future__ import annotations

import shutil
import threading

import pytest

from radfound.engine.families import load_community_model
from radfound.engine.families.community import instruction_of
from radfound.errors import GenerationCancelled, IntegrityError, ModelError
from radfound.registry.manifest import write_manifest
from radfound.study.reader import read_study
from radfound.tasks.prompts import report_prompt, vqa_prompt
from radfound.tasks.report import draft_report
from radfound.tasks.vqa import answer_question


@pytest.fixture(scope="module")
def cxr(pydicom_data):
    return read_study(pydicom_data("RG1_UNCR.dcm"))


def test_instruction_taken_from_radfound_prompts():
    assert instruction_of(vqa_prompt("Is the heart enlarged?", 0)) == "Is the heart enlarged?"
    assert instruction_of(report_prompt("cxr", 3)).startswith("Write the findings and impression of this chest X-ray")
    assert instruction_of("plain question") == "plain question"


@pytest.mark.parametrize("family", ["gemma3", "idefics3"])
def test_report_and_vqa_on_a_real_chest_radiograph(family, request, cxr):
    _, _, folder = request.getfixturevalue(family)
    model = load_community_model(folder, device="cpu")
    assert model.provider == "CPUExecutionProvider"
    enc = model.encode(cxr)  # encoded once, reused below
    deltas: list[str] = []
    draft = draft_report(model, enc, on_text=deltas.append, max_new_tokens=16)
    assert draft.model == folder.name and "PRELIMINARY" in draft.notice
    assert draft.timings.new_tokens > 0 and draft.timings.encode_ms > 0
    answer = answer_question(model, enc, "Is there a pleural effusion?", max_new_tokens=8)
    assert answer.timings.new_tokens > 0 and answer.question == "Is there a pleural effusion?"
    # the streamed pieces are exactly the generated text
    again: list[str] = []
    result = model.generate(enc, vqa_prompt("what size is the heart", 0), on_text=again.append, max_new_tokens=12)
    assert "".join(again).strip() == result.text and result.timings.new_tokens >= 1


def test_ct_volume_is_shown_as_axial_slices(gemma3, pydicom_data):
    from pathlib import Path

    series = Path(pydicom_data("CT_small.dcm")).parent / "dicomdirtests" / "98892001" / "CT5N"  # 5 x 16 x 16
    if not series.is_dir():
        pytest.skip("pydicom's dicomdirtests CT series not available")
    study = read_study(series)
    model = load_community_model(gemma3[2], device="cpu")
    enc = model.encode(study)
    assert study.kind == "ct" and len(enc.extra["image_texts"]) == 3
    assert enc.image_features.shape[0] == 3 * model.family.tokens_per_image


def test_cancel_between_tokens(idefics3, cxr):
    model = load_community_model(idefics3[2], device="cpu")
    cancel = threading.Event()
    pieces: list[str] = []

    def on_text(delta):
        pieces.append(delta)
        cancel.set()  # the user presses Cancel after the first piece of text

    with pytest.raises(GenerationCancelled):
        model.generate(model.encode(cxr), "describe the lungs", on_text=on_text, cancel=cancel, max_new_tokens=30)
    assert len(pieces) == 1


def test_tampered_community_model_refuses_to_load(gemma3, tmp_path):
    folder = tmp_path / "tampered"
    shutil.copytree(gemma3[2], folder)
    graph = folder / "onnx" / "vision_encoder.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"vision_encoder\.onnx: sha256 does not match"):
        load_community_model(folder, device="cpu")


def test_unsupported_family_and_missing_variant(gemma3, tmp_path):
    folder = tmp_path / "other"
    shutil.copytree(gemma3[2], folder)
    (folder / "config.json").write_text('{"model_type": "qwen2_vl"}')
    write_manifest(folder, name="other")
    with pytest.raises(ModelError, match="'qwen2_vl' is not a supported community family"):
        load_community_model(folder, device="cpu")
    with pytest.raises(ModelError, match=r"no onnx/vision_encoder_fp16\.onnx"):
        load_community_model(gemma3[2], device="cpu", precision="fp16")


def test_greedy_by_default_even_when_the_model_config_samples(gemma3, tmp_path, images):
    import json

    folder = tmp_path / "sampling-config"
    shutil.copytree(gemma3[2], folder)
    gen = json.loads((folder / "generation_config.json").read_text())
    gen.update({"do_sample": True, "top_k": 64, "top_p": 0.95})  # as MedGemma's generation_config.json
    (folder / "generation_config.json").write_text(json.dumps(gen))
    write_manifest(folder, name="sampling-config", family="gemma3")
    model = load_community_model(folder, device="cpu")
    cfg = model.generation_config()
    assert (cfg.do_sample, cfg.top_k, cfg.top_p) == (False, 64, 0.95)
    enc = model.encode_images(images)
    ids = model.prompt_ids(enc, "what size is the heart")
    greedy = [model.generate_ids(ids, enc.image_features, max_new_tokens=12).token_ids for _ in range(2)]
    assert greedy[0] == greedy[1]
    sampled = model.generate_ids(ids, enc.image_features, max_new_tokens=12, do_sample=True, seed=1, top_k=0,
                                 top_p=1.0, temperature=5.0).token_ids
    assert sampled != greedy[0]  # sampling is there when asked for
