"""Module logic with real MRML (slicer-core) and a real model (the tiny random RadFound exported to ONNX):
drafts and answers for volume nodes read by Slicer's volumes logic, nodes saved, scene written to .mrb
and read back, the study encoded once for a conversation, cancel, and the Slicer batch script."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer")

import pydicom  # noqa: E402

from outputs.validators import unexpected_warnings, validate_sr  # noqa: E402
from radfound.config import PRELIMINARY_NOTICE  # noqa: E402
from radfound.slicer.dicom_sr import CONVERSATION_IMPRESSION, CONVERSATION_NOTE, EDITED_NOTE  # noqa: E402
from radfound.errors import GenerationCancelled  # noqa: E402
from radfound.slicer.report_logic import RadFoundReportLogic  # noqa: E402
from radfound.slicer.vqa_logic import RadFoundVQALogic  # noqa: E402
from radfound.tasks.results import Answer, Draft  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
GEN = {"max_new_tokens": 12}


def _items(ds):
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _items(item)


def test_draft_for_a_real_chest_radiograph_is_saved_and_survives_mrb(slicer_core, cxr_node, tiny_model_dir, tmp_path,
                                                                   feedback_log, sr_folder):
    pieces: list[str] = []
    draft = RadFoundReportLogic(model=str(tiny_model_dir), **GEN).draft(cxr_node, on_text=pieces.append)
    assert isinstance(draft, Draft)
    assert draft.provider == "CPUExecutionProvider" and draft.model == "radfound-tiny"
    assert len(pieces) > 1 and draft.timings.new_tokens > 0  # streamed piece by piece
    saved = RadFoundReportLogic().save(draft, cxr_node, edited_text="FINDINGS:\nClear lungs.\n\nIMPRESSION:\nNormal.",
                                       rating=4, kind="cxr", sr=True)
    assert saved["feedback"]["rating"] == 4 and saved["feedback"]["edit_distance"] > 0
    logged = json.loads(feedback_log.read_text())
    assert (logged["model"], logged["model_version"]) == ("radfound-tiny", draft.model_version) and draft.model_version

    # ...and, asked for as the panel does, the saved text as a DICOM SR of the source study, marked edited
    assert saved["sr"].parent.parent == sr_folder and not saved["sr_in_database"] and saved["sr_note"] == ""
    assert unexpected_warnings(validate_sr(saved["sr"])) == []
    sr, source = pydicom.dcmread(saved["sr"]), pydicom.dcmread(cxr_node.GetStorageNode().GetFileName())
    assert (sr.StudyInstanceUID, sr.VerificationFlag) == (source.StudyInstanceUID, "UNVERIFIED")
    texts = [item.TextValue for item in _items(sr) if "TextValue" in item]
    assert "Clear lungs." in texts and "Normal." in texts and EDITED_NOTE in texts
    assert draft.findings not in texts  # the generated findings were replaced by the edit

    slicer_core.read_mrb(slicer_core.write_mrb(tmp_path / "scene.mrb"))
    texts = slicer.util.getNodesByClass("vtkMRMLTextNode")
    assert [t.GetAttribute("RadFound.Model") for t in texts] == ["radfound-tiny"]
    assert texts[0].GetText().startswith(PRELIMINARY_NOTICE) and "Clear lungs." in texts[0].GetText()
    assert len(slicer.util.getNodesByClass("vtkMRMLTableNode")) == 1


def test_ct_volume_draft(slicer_core, tiny_model_dir):
    import numpy as np

    rng = np.random.default_rng(0)
    volume = slicer.util.addVolumeFromArray((rng.random((24, 48, 48)) * 2000 - 1000).astype(np.float32),
                                            ijkToRAS=np.diag([-0.8, -0.8, 2.0, 1.0]), name="ct")
    draft = RadFoundReportLogic(model=str(tiny_model_dir), **GEN).draft(volume)
    assert draft.findings is not None and draft.timings.new_tokens > 0


def test_vqa_encodes_once_and_keeps_the_conversation(slicer_core, cxr_node, tiny_model_dir, sr_folder):
    logic = RadFoundVQALogic(model=str(tiny_model_dir), **GEN)
    first = logic.ask(cxr_node, "Is there a pleural effusion?")
    second = logic.ask(cxr_node, "Is the heart enlarged?")
    assert isinstance(first, Answer) and second.question == "Is the heart enlarged?"
    assert logic.encode_count == 1  # the image was encoded once for both questions
    assert [a.question for a in logic.history(cxr_node)] == ["Is there a pleural effusion?", "Is the heart enlarged?"]
    slicer.util.updateVolumeFromArray(cxr_node, slicer.util.arrayFromVolume(cxr_node) * 0.5)  # pixels changed
    logic.ask(cxr_node, "Is there a pneumothorax?")
    assert logic.encode_count == 2
    assert logic.save_conversation(cxr_node)["sr"] is None and not sr_folder.exists()  # scripts ask for an SR
    saved = logic.save_conversation(cxr_node, sr=True)
    assert saved["text"].GetText().count("Q: ") == 3
    # ...and as a valid SR of the source study: one Findings paragraph per question, no impression drafted
    assert unexpected_warnings(validate_sr(saved["sr"])) == []
    sr = pydicom.dcmread(saved["sr"])
    assert sr.StudyInstanceUID == pydicom.dcmread(cxr_node.GetStorageNode().GetFileName()).StudyInstanceUID
    texts = [item.TextValue for item in _items(sr) if "TextValue" in item]
    assert [t.split("\n")[0] for t in texts if t.startswith("Q: ")] == [
        "Q: Is there a pleural effusion?", "Q: Is the heart enlarged?", "Q: Is there a pneumothorax?"]
    assert CONVERSATION_NOTE in texts and CONVERSATION_IMPRESSION in texts


def test_cancel_stops_generation(cxr_node, tiny_model_dir):
    job = RadFoundReportLogic(model=str(tiny_model_dir), max_new_tokens=64).draft(cxr_node, blocking=False)
    job.cancel()
    with pytest.raises(GenerationCancelled):
        job.wait()
    assert [e.kind for e in job.poll()][-1] == "cancelled"


def _batch_module():
    spec = importlib.util.spec_from_file_location("slicer_batch", ROOT / "ci" / "slicer_batch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slicer_batch_script(slicer_core, pydicom_data, tiny_model_dir, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(pydicom_data("RG1_UNCI.dcm"), inputs / "chest.dcm")
    shutil.copy(pydicom_data("CT_small.dcm"), inputs / "ct.dcm")
    mr = pydicom_data("MR_small.dcm").read_bytes()
    (inputs / "broken.dcm").write_bytes(mr[: len(mr) // 2])  # another series, its pixel data cut in half
    (inputs / "notes.txt").write_text("not an image")
    series = pydicom_data("CT_small.dcm").parent / "dicomdirtests" / "98892001" / "CT5N"
    shutil.copytree(series, inputs / "ct_series")  # 5 slices: one volume, one draft
    model = _variant(tiny_model_dir, tmp_path / "ct-only", provenance={"modalities": ["CT"]})
    summary = _batch_module().run_batch(inputs, tmp_path / "out", model=str(model), core=slicer_core, **GEN)
    by_input = {item["input"]: item for item in summary["items"]}
    series_items = [k for k in by_input if k.startswith("ct_series/")]
    assert len(series_items) == 1 and by_input[series_items[0]]["kind"] == "ct"
    assert set(by_input) - set(series_items) == {"chest.dcm", "ct.dcm", "broken.dcm"}
    assert by_input["chest.dcm"]["status"] == "ok" and by_input["chest.dcm"]["kind"] == "cxr"
    assert by_input["broken.dcm"]["status"] == "error" and "broken.dcm" in by_input["broken.dcm"]["error"]
    out = tmp_path / "out"
    name = by_input["chest.dcm"]["name"]
    assert (out / f"{name}.txt").read_text().startswith(PRELIMINARY_NOTICE.split(" - ")[0])
    # What the model noticed while encoding reaches the .txt, the .json and the summary, as in `radfound batch`.
    warning = "radfound-tiny was not trained on CR images (only CT): its output for this study is unreliable"
    assert f"Input warning: {warning}" in (out / f"{name}.txt").read_text()
    assert json.loads((out / f"{name}.json").read_text())["study"]["warnings"] == [warning]
    assert by_input["chest.dcm"]["warnings"] == [warning] and by_input["chest.dcm"]["model_version"]
    assert json.loads((out / "summary.json").read_text())["drafted"] == 3
    slicer_core.scene.Clear(0)
    slicer_core.read_mrb(out / "radfound_batch.mrb")
    assert len(slicer.util.getNodesByClass("vtkMRMLTextNode")) == 3


def test_mammogram_view_set_draft(slicer_core, shared_data, tiny_model_dir):
    import numpy as np

    from radfound.slicer.mammo_views import assemble_view_set

    mlo = slicer_core.load_volume(shared_data / "dicom" / "mammo" / "MG1_JPLY.dcm")
    pixels = slicer.util.arrayFromVolume(mlo)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_core.scene)
    for name in ("L CC", "R CC", "R MLO"):  # the same real image standing in for the other views
        node = slicer.util.addVolumeFromArray(np.ascontiguousarray(pixels[:, ::2, ::2]), name=name)
        sh.CreateItem(sh.GetSceneItemID(), node)
    view_set = assemble_view_set(mlo)
    assert list(view_set) == ["L-CC", "L-MLO", "R-CC", "R-MLO"]
    logic = RadFoundReportLogic(model=str(tiny_model_dir), **GEN)
    assert logic.study(view_set=view_set).present_views == ["L-CC", "L-MLO", "R-CC", "R-MLO"]
    draft = logic.draft(mlo, view_set=view_set)
    assert isinstance(draft, Draft) and draft.timings.new_tokens > 0


def test_nrrd_image_with_modality_override(slicer_core, pydicom_data, tiny_model_dir, tmp_path):
    """A real radiograph saved as NRRD (no DICOM context): detected as a plain image, drafted as a chest X-ray."""
    import pydicom

    from slicer_app import nrrd_from_pixels

    ds = pydicom.dcmread(pydicom_data("RG1_UNCI.dcm"))
    path = nrrd_from_pixels(ds.pixel_array[::4, ::4], tmp_path / "chest.nrrd", spacing=(0.7, 0.6))
    node = slicer_core.load_volume(path)
    logic = RadFoundReportLogic(model=str(tiny_model_dir), **GEN)
    study = logic.study(node)
    assert study.kind == "image" and study.views[0].spacing == pytest.approx((0.7, 0.6))
    assert logic.study(node, kind="cxr").kind == "cxr"
    draft = logic.draft(node, kind="cxr")
    assert draft.timings.new_tokens > 0 and logic.warnings == ["kind set to cxr by the user"]  # for the panel
    saved = logic.save(draft, node, kind="cxr", log=False, sr=True)  # in the scene; no SR without a DICOM study
    assert saved["text"] is not None and saved["sr"] is None and "needs DICOM source images" in saved["sr_note"]


def _variant(tiny_model_dir, folder: Path, **manifest) -> Path:
    """A copy of the tiny model whose manifest says something else (name, version, training modalities)."""
    shutil.copytree(tiny_model_dir, folder)
    path = folder / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **manifest}))
    return folder


def test_saved_draft_keeps_what_the_model_noticed(slicer_core, cxr_node, tiny_model_dir, tmp_path, feedback_log,
                                                  sr_folder):
    """The text node, its attributes and the SR carry the model version, the cut-off note and the warning the
    model added while encoding (a modality it was not trained on), as the command line's .txt and SR do."""
    model = _variant(tiny_model_dir, tmp_path / "ct-only", provenance={"modalities": ["CT"]})
    logic = RadFoundReportLogic(model=str(model), max_new_tokens=3)  # random weights do not stop within 3
    draft = logic.draft(cxr_node)
    warning = "radfound-tiny was not trained on CR images (only CT): its output for this study is unreliable"
    assert draft.truncated and logic.warnings == [warning]
    saved = logic.save(draft, cxr_node, kind="cxr", sr=True)
    text = saved["text"].GetText()
    assert text.startswith(PRELIMINARY_NOTICE) and f"Input warning: {warning}" in text
    assert f"Model: radfound-tiny {draft.model_version} (CPUExecutionProvider)" in text
    assert "Note: The draft stopped at the model's token limit and may be cut off." in text
    for node in [saved["text"], saved["table"]]:
        assert node.GetAttribute("RadFound.ModelVersion") == draft.model_version != ""
    texts = [item.TextValue for item in _items(pydicom.dcmread(saved["sr"])) if "TextValue" in item]
    assert f"Input: {warning}" in texts


def test_a_conversation_with_two_models_names_each(slicer_core, cxr_node, tiny_model_dir, tmp_path, sr_folder):
    other = _variant(tiny_model_dir, tmp_path / "other", model_version="9.9.9")
    logic = RadFoundVQALogic(model=str(tiny_model_dir), max_new_tokens=2)
    first = logic.ask(cxr_node, "What is shown?")  # free text, cut at 2 tokens
    logic.model_name = str(other)  # what the panel does when the Model combo changes
    logic.ask(cxr_node, "Is the heart enlarged?")
    assert first.truncated
    saved = logic.save_conversation(cxr_node, sr=True)
    text = saved["text"].GetText()
    assert f"A (radfound-tiny {first.model_version}): " in text and "A (radfound-tiny 9.9.9): " in text
    assert "[stopped at the token limit: may be cut off]" in text
    assert "model's preference: " in text.split("Is the heart enlarged?")[1]  # the closed answer's shares
    texts = [item.TextValue for item in _items(pydicom.dcmread(saved["sr"])) if "TextValue" in item]
    assert any("A (radfound-tiny 9.9.9): " in t and "not a calibrated probability" in t for t in texts)
    assert any(t.startswith("The answers came from several models") for t in texts)
