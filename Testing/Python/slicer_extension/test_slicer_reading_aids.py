"""The reading aids of the panels on a real scene: similar cases (Save adds, Find lists) and compare with prior."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("Qt", reason="Qt.py and PySide6 are needed for the widget tests")
slicer = pytest.importorskip("slicer")

from radfound.slicer.report_logic import RadFoundReportLogic  # noqa: E402
from radfound.slicer.vqa_logic import RadFoundVQALogic  # noqa: E402
from radfound.ui.qt import application, load_ui, prop  # noqa: E402
from radfound.ui.report_panel import ReportPanel  # noqa: E402
from radfound.ui.vqa_panel import VQAPanel  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
REPORT_UI = ROOT / "RadFoundReport" / "Resources" / "UI" / "RadFoundReport.ui"
VQA_UI = ROOT / "RadFoundVQA" / "Resources" / "UI" / "RadFoundVQA.ui"


def wait_for(app, condition, what: str, limit_s: float = 300):
    deadline = time.monotonic() + limit_s
    while not condition():
        app.processEvents()
        time.sleep(0.005)
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen")


@pytest.fixture()
def indexed(shared_data, tmp_path, monkeypatch, similar_folder):
    """radfound-small's index with two SLAKE chest X-rays (one report saved by a radiologist) and one head CT."""
    from radfound.engine import load_model
    from radfound.similar.cases import index_study
    from radfound.study.reader import read_study

    monkeypatch.setenv("RADFOUND_MODELS", str(tmp_path / "store"))  # only the shipped models
    small = load_model(None, device="cpu")
    for name, report, edited in (("xmlab121", "FINDINGS: Cardiomegaly.\nIMPRESSION: Enlarged heart.", True),
                                 ("xmlab139", "FINDINGS: Clear lungs.\nIMPRESSION: Normal chest.", False),
                                 ("xmlab1", "FINDINGS: Head CT.\nIMPRESSION: No bleed.", True)):
        index_study(small, read_study(shared_data / "slake" / "imgs" / name / "source.jpg"), report=report,
                    edited=edited)
    return small


def test_save_adds_the_study_and_the_other_module_finds_similar_cases(slicer_core, cxr_node, indexed):
    from radfound.similar.index import CaseIndex

    app = application()
    errors: list[str] = []
    report = ReportPanel(load_ui(REPORT_UI), slicer_core.scene, logic=RadFoundReportLogic(max_new_tokens=16),
                         show_error=errors.append)
    assert prop(report.inputs.model, "currentText") == "radfound-small (default)"
    report.generate_button.click()
    wait_for(app, lambda: report.job is None, "the draft")
    report.text.setPlainText("FINDINGS:\nMild cardiomegaly.\n\nIMPRESSION:\nEnlarged heart, signed by Dr B.")
    report.save_button.click()
    assert errors == [] and "Added to your similar cases." in prop(report.status, "text")
    index = CaseIndex.for_model(indexed)
    assert len(index) == 4
    mine = next(c for c in index.cases if c.kind == "cxr")  # the DICOM CR, keyed by its StudyInstanceUID
    assert mine.edited and mine.report.endswith("signed by Dr B.") and mine.key.startswith("1.")

    vqa = VQAPanel(load_ui(VQA_UI), slicer_core.scene, logic=RadFoundVQALogic(max_new_tokens=8),
                   show_error=errors.append)
    assert vqa.similar.list.isHidden()  # the section starts folded away
    vqa.similar.group.setChecked(True)
    assert not vqa.similar.list.isHidden()
    vqa.similar.button.click()
    assert vqa.similar.job is not None and not vqa.similar.button.isEnabled()  # searching in the background
    wait_for(app, lambda: vqa.similar.job is None, "the similar-case search")
    assert errors == [] and vqa.similar.count == 3  # everything but the study itself
    sources = [m.case.source for m in vqa.similar.matches]
    assert sources[-1].endswith("xmlab1/source.jpg")  # the head CT comes after both chest X-rays
    assert all(not vqa.similar.list.item(i).icon().isNull() for i in range(3))  # thumbnails
    assert vqa.similar.list.item(0).text().startswith("1. distance ")
    edited_row = next(i for i, m in enumerate(vqa.similar.matches) if m.case.source.endswith("xmlab121/source.jpg"))
    vqa.similar.list.setCurrentRow(edited_row)
    assert vqa.similar.report.toPlainText().startswith("Report saved by a radiologist")
    assert "Enlarged heart." in vqa.similar.report.toPlainText()
    draft_row = next(i for i, m in enumerate(vqa.similar.matches) if m.case.source.endswith("xmlab139/source.jpg"))
    vqa.similar.list.setCurrentRow(draft_row)
    assert "PRELIMINARY" in vqa.similar.report.toPlainText()  # a batch draft says what it is


def test_find_without_an_image_is_one_message(slicer_core, similar_folder):
    application()
    errors: list[str] = []
    vqa = VQAPanel(load_ui(VQA_UI), slicer_core.scene, logic=RadFoundVQALogic(), show_error=errors.append)
    vqa.similar.group.setChecked(True)
    vqa.similar.button.click()
    assert errors == ["Load an image first (File > Add Data or the DICOM module)."] and vqa.similar.job is None


def two_studies_of_one_patient(tmp_path):
    """The same real CR radiograph as two studies of one patient, 2024-03-01 (prior) and 2024-06-01 (current)."""
    import datetime

    import pydicom

    from radfound.pacs.sample_studies import clone_study
    from pacs.pacs_helpers import chest_cr

    out = []
    for index, day in ((1, datetime.date(2024, 3, 1)), (2, datetime.date(2024, 6, 1))):
        (path,) = clone_study([chest_cr()], tmp_path / "dicom", index, study_date=day)
        ds = pydicom.dcmread(path)
        ds.PatientID = "RFPAT-SAME"
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def test_compare_with_prior_finds_the_earlier_study_and_the_sr_references_both(slicer_core, tmp_path, sr_folder,
                                                                                 monkeypatch):
    import pydicom

    from outputs.validators import unexpected_warnings, validate_sr

    monkeypatch.setenv("RADFOUND_MODELS", str(tmp_path / "store"))
    prior_file, current_file = two_studies_of_one_patient(tmp_path)
    prior = slicer_core.load_volume(prior_file, name="chest 2024-03")
    current = slicer_core.load_volume(current_file, name="chest 2024-06")
    app = application()
    errors: list[str] = []
    panel = ReportPanel(load_ui(REPORT_UI), slicer_core.scene, logic=RadFoundReportLogic(max_new_tokens=24),
                        show_error=errors.append)
    panel.inputs.volume.setCurrentIndex(panel.inputs.volume.findData(current.GetID()))
    assert not panel.prior_combo.isEnabled()
    panel.compare.setChecked(True)
    assert prop(panel.prior_combo, "currentText") == "chest 2024-03"  # same patient, earlier date
    panel.generate_button.click()
    wait_for(app, lambda: panel.job is None, "the draft and its comparison")
    text = panel.text.toPlainText()
    assert errors == [] and text.startswith("COMPARISON:\nPrior: chest 2024-03.\n")
    assert "unchanged." in text and "new." not in text  # the same image a few months later
    panel.save_button.click()
    (sr_path,) = sr_folder.glob("*/*.sr.dcm")
    assert unexpected_warnings(validate_sr(sr_path)) == []
    sr = pydicom.dcmread(sr_path)
    prior_uid = pydicom.dcmread(prior_file, stop_before_pixels=True).StudyInstanceUID
    assert sr.StudyInstanceUID != prior_uid
    assert [e.StudyInstanceUID for e in sr.PertinentOtherEvidenceSequence] == [prior_uid]

    panel.inputs.volume.setCurrentIndex(panel.inputs.volume.findData(prior.GetID()))  # the earlier one has none
    assert prop(panel.prior_combo, "currentIndex") == 0
    panel.generate_button.click()
    wait_for(app, lambda: panel.job is None, "the draft without a prior")
    assert panel.text.toPlainText().startswith("COMPARISON:\nNo prior available.\n")
