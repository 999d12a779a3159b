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


class FileDatabase:
    """Slicer's ctkDICOMDatabase cannot run outside the application: the calls RadFound makes, answered from
    real DICOM files (one patient UID per PatientID, as the database keeps them)."""

    def __init__(self, files):
        import pydicom

        self.headers = [(f, pydicom.dcmread(f, stop_before_pixels=True)) for f in files]

    def patients(self):
        return sorted({str(h.PatientID) for _, h in self.headers})

    def fieldForPatient(self, field, patient):  # noqa: N802 - ctkDICOMDatabase's names
        return patient if field == "PatientID" else ""

    def studiesForPatient(self, patient):  # noqa: N802
        return sorted({str(h.StudyInstanceUID) for _, h in self.headers if str(h.PatientID) == patient})

    def fieldForStudy(self, field, study):  # noqa: N802
        return next(str(h.get(field, "")) for _, h in self.headers if str(h.StudyInstanceUID) == study)

    def seriesForStudy(self, study):  # noqa: N802
        return sorted({str(h.SeriesInstanceUID) for _, h in self.headers if str(h.StudyInstanceUID) == study})

    def fieldForSeries(self, field, series):  # noqa: N802
        return next(str(h.get(field, "")) for _, h in self.headers if str(h.SeriesInstanceUID) == series)

    def filesForSeries(self, series):  # noqa: N802
        return [str(f) for f, h in self.headers if str(h.SeriesInstanceUID) == series]


def test_a_prior_only_in_the_dicom_database_is_offered_then_loaded_for_the_comparison(slicer_core, tmp_path,
                                                                                      monkeypatch, sr_folder):
    import subprocess
    import sys

    monkeypatch.setenv("RADFOUND_MODELS", str(tmp_path / "store"))
    prior_file, current_file = two_studies_of_one_patient(tmp_path)
    prior_report = tmp_path / "prior-report.sr.dcm"  # the prior's report, as the database would hold it
    subprocess.run([sys.executable, "-m", "radfound.cli.main", "report", str(prior_file), "--sr", str(prior_report)],
                   check=True, capture_output=True)
    current = slicer_core.load_volume(current_file, name="chest 2024-06")
    loaded: list[str] = []

    def load_series(series_uid):
        loaded.append(series_uid)
        return slicer_core.load_volume(prior_file, name="chest 2024-03 (loaded)")

    app = application()
    errors: list[str] = []
    panel = ReportPanel(load_ui(REPORT_UI), slicer_core.scene, logic=RadFoundReportLogic(max_new_tokens=24),
                        show_error=errors.append, database=FileDatabase([prior_file, current_file, prior_report]),
                        load_series=load_series)
    panel.inputs.volume.setCurrentIndex(panel.inputs.volume.findData(current.GetID()))
    panel.compare.setChecked(True)
    assert prop(panel.prior_combo, "currentText") == "study of 2024-03-01 (DICOM database, not loaded)"
    assert loaded == []  # nothing loads until the draft is asked for
    panel.generate_button.click()
    import pydicom

    assert loaded == [str(pydicom.dcmread(prior_file, stop_before_pixels=True).SeriesInstanceUID)]
    assert prop(panel.prior_combo, "currentText") == "chest 2024-03 (loaded)"  # now a loaded image, still chosen
    wait_for(app, lambda: panel.job is None, "the draft and its comparison")
    assert errors == [] and panel.text.toPlainText().startswith("COMPARISON:\nPrior: chest 2024-03 (loaded).\n")
    panel.save_button.click()  # the database holds the prior's report: the new SR names it as its predecessor
    (sr_path,) = sr_folder.glob("*/*.sr.dcm")
    sr = pydicom.dcmread(sr_path)
    (study_ref,) = sr.PredecessorDocumentsSequence
    prior_sr = pydicom.dcmread(prior_report, stop_before_pixels=True)
    assert study_ref.StudyInstanceUID == prior_sr.StudyInstanceUID
    assert study_ref.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == \
        prior_sr.SOPInstanceUID


def test_side_by_side_puts_current_left_and_prior_right_with_linked_views(slicer_core, pydicom_data):
    """The layout manager exists only in the Slicer application: a stand-in holding real slice composite nodes."""
    from radfound.slicer.priors import show_side_by_side

    current = slicer_core.load_volume(pydicom_data("RG1_UNCI.dcm"), name="current")
    prior = slicer_core.load_volume(pydicom_data("RG1_UNCR.dcm"), name="prior")

    class Logic:
        def __init__(self):
            self.composite = slicer_core.scene.AddNode(slicer.vtkMRMLSliceCompositeNode())  # as in the app
            self.fitted = False

        def GetSliceCompositeNode(self):  # noqa: N802 - Slicer's names
            return self.composite

        def FitSliceToAll(self):  # noqa: N802
            self.fitted = True

    class Manager:
        layout = None
        logics = {"Red": Logic(), "Yellow": Logic()}

        def setLayout(self, layout):  # noqa: N802
            self.layout = layout

        def sliceWidget(self, name):  # noqa: N802
            return type("W", (), {"sliceLogic": lambda _self: self.logics[name]})()

    manager = Manager()
    assert show_side_by_side(current, prior, app=type("App", (), {"layoutManager": lambda _self: manager})())
    assert manager.layout == slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView
    red, yellow = manager.logics["Red"], manager.logics["Yellow"]
    assert red.composite.GetBackgroundVolumeID() == current.GetID()
    assert yellow.composite.GetBackgroundVolumeID() == prior.GetID()
    assert red.composite.GetLinkedControl() and yellow.composite.GetLinkedControl() and red.fitted and yellow.fitted
    assert show_side_by_side(current, prior, app=False) is False  # no application: nothing to lay out
