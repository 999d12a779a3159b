"""The DICOM SR writer on real source images, every SR checked by dciodvfy and dsrdump."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from outputs.validators import unexpected_warnings, validate_sr
from radfound.config import PRELIMINARY_NOTICE
from radfound.errors import StudyReadError, UnsupportedInputError
from radfound.outputs.sr import TRUNCATED_NOTE, build_sr, draft_digest, sr_uids, write_sr
from radfound.outputs.text import write_json, write_text
from radfound.study.model import SourceRef, Study, View
from radfound.tasks.results import Box, Draft


def study_of(paths: list[Path], kind: str = "cxr") -> Study:
    """A Study whose sources are the given real files (pixels are not needed by the SR writer)."""
    sources = []
    for p in paths:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        sources.append(SourceRef(path=str(p), study_uid=ds.StudyInstanceUID, series_uid=ds.SeriesInstanceUID,
                                 sop_instance_uid=ds.SOPInstanceUID, sop_class_uid=ds.SOPClassUID))
    return Study(kind=kind, sources=sources)


def a_draft(version: str = "0.1.0") -> Draft:
    return Draft(findings="Heart size is normal.\n\nNo focal consolidation, effusion or pneumothorax.",
                 impression="No acute cardiopulmonary abnormality.", model="radfound-test",
                 provider="CPUExecutionProvider", model_version=version)


def ct_series() -> list[Path]:
    folder = Path(get_testdata_file("CT_small.dcm")).parent / "dicomdirtests" / "77654033" / "CT2"
    return sorted(folder.iterdir())


def evidence_uids(sr: pydicom.Dataset) -> set[str]:
    return {inst.ReferencedSOPInstanceUID
            for study in sr.CurrentRequestedProcedureEvidenceSequence
            for series in study.ReferencedSeriesSequence
            for inst in series.ReferencedSOPSequence}


def test_chest_xray_sr_is_valid_tid2000_with_context_and_flags(tmp_path, pydicom_data):
    src = pydicom_data("RG1_UNCR.dcm")
    head = pydicom.dcmread(src, stop_before_pixels=True)
    out = write_sr(a_draft(), study_of([src]), tmp_path / "sr.dcm")

    check = validate_sr(out)
    assert unexpected_warnings(check) == []
    assert "Diagnostic Imaging Report" in check.dump and "Findings" in check.dump and "Impressions" in check.dump
    assert PRELIMINARY_NOTICE in check.dump

    sr = pydicom.dcmread(out)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert (sr.VerificationFlag, sr.CompletionFlag, sr.PreliminaryFlag) == ("UNVERIFIED", "PARTIAL", "PRELIMINARY")
    for attr in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                 "AccessionNumber", "StudyDate"):
        assert sr.get(attr) == head.get(attr), attr
    assert evidence_uids(sr) == {head.SOPInstanceUID}
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "2000"
    assert sr.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    assert "PRELIMINARY" in sr.SeriesDescription

    doc = hd.sr.srread(out)
    device_names = [i.TextValue for i in doc.ContentSequence if i.ValueType == "TEXT"
                    and i.ConceptNameCodeSequence[0].CodeValue == "121013"]
    assert device_names == ["radfound-test 0.1.0"]
    observer_type = [i for i in doc.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "121005"]
    assert observer_type[0].ConceptCodeSequence[0].CodeValue == "121007"  # Device
    sections = {i.ConceptNameCodeSequence[0].CodeMeaning: [t.TextValue for t in i.ContentSequence]
                for i in doc.ContentSequence if i.ValueType == "CONTAINER"}
    assert sections["Findings"] == [PRELIMINARY_NOTICE, "Heart size is normal.",
                                    "No focal consolidation, effusion or pneumothorax."]
    assert sections["Impressions"] == [PRELIMINARY_NOTICE, "No acute cardiopulmonary abnormality."]


def test_ct_series_sr_references_every_slice(tmp_path):
    paths = ct_series()
    out = write_sr(a_draft(), study_of(paths, "ct"), tmp_path / "ct_sr.dcm")
    check = validate_sr(out)
    assert unexpected_warnings(check) == []
    expected = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths}
    assert len(expected) == 4
    assert evidence_uids(pydicom.dcmread(out)) == expected


def test_mammogram_sr_from_real_data(tmp_path, shared_data):
    src = shared_data / "dicom" / "mammo" / "MG1_J2KI.dcm"
    out = write_sr(a_draft(), study_of([src], "mammo"), tmp_path / "mg_sr.dcm")
    check = validate_sr(out)
    assert unexpected_warnings(check) == []
    sr = pydicom.dcmread(out)
    assert evidence_uids(sr) == {pydicom.dcmread(src, stop_before_pixels=True).SOPInstanceUID}


def test_uids_are_deterministic_per_draft_and_unique_per_content(pydicom_data):
    """The same draft again is the same instance (STOW-RS idempotent); another draft of the same study by
    the same model (sampled, other settings) is a new instance in the same series, never a reused UID."""
    study = study_of([pydicom_data("RG1_UNCR.dcm")])
    first, again = build_sr(a_draft(), study), build_sr(a_draft(), study)
    other = a_draft()
    other.impression = "Small right pleural effusion."
    different = build_sr(other, study)
    newer = build_sr(a_draft("0.2.0"), study)
    assert first.SOPInstanceUID == again.SOPInstanceUID
    assert first.SeriesInstanceUID == again.SeriesInstanceUID
    assert different.SOPInstanceUID != first.SOPInstanceUID
    assert different.SeriesInstanceUID == first.SeriesInstanceUID
    assert newer.SOPInstanceUID != first.SOPInstanceUID and newer.SeriesInstanceUID != first.SeriesInstanceUID
    assert first.SOPInstanceUID == sr_uids(study.study_uid, "radfound-test", "0.1.0",
                                           draft_digest(a_draft()))["sop_instance"]
    assert first.SOPInstanceUID not in {s.sop_instance_uid for s in study.sources}


def test_input_warnings_and_cut_off_draft_are_recorded_as_comments(tmp_path, pydicom_data):
    study = study_of([pydicom_data("RG1_UNCR.dcm")])
    study.warnings.append("mammogram set is missing L-CC, R-CC, R-MLO")
    draft = a_draft()
    draft.truncated = True
    out = write_sr(draft, study, tmp_path / "sr.dcm")
    check = validate_sr(out)
    assert unexpected_warnings(check) == []
    findings = [i for i in hd.sr.srread(out).ContentSequence
                if i.ValueType == "CONTAINER" and i.ConceptNameCodeSequence[0].CodeMeaning == "Findings"][0]
    comments = [t.TextValue for t in findings.ContentSequence if t.ConceptNameCodeSequence[0].CodeValue == "121106"]
    assert comments == [PRELIMINARY_NOTICE, "Input: mammogram set is missing L-CC, R-CC, R-MLO", TRUNCATED_NOTE]
    truncated_uid = pydicom.dcmread(out).SOPInstanceUID
    assert truncated_uid != build_sr(a_draft(), study_of([pydicom_data("RG1_UNCR.dcm")])).SOPInstanceUID


def test_chinese_text_and_box_labels_switch_to_utf8_and_chinese(tmp_path, pydicom_data):
    """Any non-ASCII text the SR carries (a box label too) makes it UTF-8; Chinese paragraphs are tagged zh-CN."""
    src = pydicom_data("RG1_UNCR.dcm")
    study = study_of([src])
    head = pydicom.dcmread(src, stop_before_pixels=True)
    study.views = [View(np.zeros((head.Rows, head.Columns), np.float32), source=study.sources[0])]
    label_only = a_draft()
    label_only.boxes = [Box("结节", 100, 120, 400, 380)]
    out = write_sr(label_only, study, tmp_path / "label.dcm")
    assert unexpected_warnings(validate_sr(out)) == []
    sr = pydicom.dcmread(out)
    assert sr.SpecificCharacterSet == "ISO_IR 192"
    assert "结节" in [t.TextValue for t in _all_items(sr) if "TextValue" in t]
    assert _language(sr) == "en-US"

    # The document is English (its notice and comments are); each Chinese paragraph says it is Chinese, so a
    # conversation with questions in both languages tags each answer right.
    mixed = a_draft()
    mixed.findings, mixed.impression = "Heart size is normal.\n\n右肺下叶见结节。", "右肺结节。"
    out = write_sr(mixed, study_of([src]), tmp_path / "zh.dcm")
    assert unexpected_warnings(validate_sr(out)) == []
    sr = pydicom.dcmread(out)
    assert sr.SpecificCharacterSet == "ISO_IR 192" and _language(sr) == "en-US"
    tagged = {t.TextValue: _language(t) if "ContentSequence" in t else None for t in _all_items(sr) if "TextValue" in t}
    assert tagged["右肺下叶见结节。"] == tagged["右肺结节。"] == "zh-CN" and tagged["Heart size is normal."] is None


def _all_items(ds):
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _all_items(item)


def _language(sr) -> str:
    lang = [i for i in sr.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "121049"]
    return lang[0].ConceptCodeSequence[0].CodeValue


def test_non_dicom_study_is_refused_and_nothing_written(tmp_path):
    jpeg_study = Study(kind="image", sources=[SourceRef(path=str(tmp_path / "x.jpg"))])
    with pytest.raises(UnsupportedInputError, match="DICOM source"):
        write_sr(a_draft(), jpeg_study, tmp_path / "sr.dcm")
    assert list(tmp_path.iterdir()) == []


def test_missing_source_file_names_the_file_and_leaves_no_output(tmp_path, pydicom_data):
    study = study_of([pydicom_data("RG1_UNCR.dcm")])
    gone = tmp_path / "gone.dcm"
    study.sources[0] = SourceRef(path=str(gone), study_uid="1.2.3", sop_instance_uid="1.2.3.4")
    with pytest.raises(StudyReadError) as err:
        write_sr(a_draft(), study, tmp_path / "out" / "sr.dcm")
    assert str(gone) in str(err.value)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_text_and_json_carry_notice_and_no_identifiers(tmp_path, pydicom_data):
    src = pydicom_data("RG1_UNCR.dcm")
    head = pydicom.dcmread(src, stop_before_pixels=True)
    study = study_of([src])
    txt = write_text(a_draft(), tmp_path / "r.txt").read_text()
    rec = json.loads(write_json(a_draft(), tmp_path / "r.json", study, sr_uid="2.25.1").read_text())
    assert txt.startswith(PRELIMINARY_NOTICE) and "IMPRESSION:" in txt
    assert rec["notice"] == PRELIMINARY_NOTICE and rec["study"]["study_uid"] == head.StudyInstanceUID
    assert rec["sr_sop_instance_uid"] == "2.25.1"
    blob = txt + json.dumps(rec)
    assert str(head.PatientID) not in blob and str(head.PatientName) not in blob


def test_generated_text_with_control_and_non_latin_characters_stays_valid(tmp_path, pydicom_data):
    draft = a_draft()
    draft.findings = "Lungs clear.\x06\x1c Cardiomegaly\x08 absent. 正常 \ufffd"
    out = write_sr(draft, study_of([pydicom_data("RG1_UNCR.dcm")]), tmp_path / "sr.dcm")
    assert unexpected_warnings(validate_sr(out)) == []
    sr = pydicom.dcmread(out)
    assert sr.SpecificCharacterSet == "ISO_IR 192"
    findings = [i for i in sr.ContentSequence if i.get("ConceptNameCodeSequence")
                and i.ConceptNameCodeSequence[0].CodeValue == "121070"][0]
    assert findings.ContentSequence[1].TextValue == "Lungs clear. Cardiomegaly absent. 正常 \ufffd"


def test_boxes_become_image_regions_on_their_source_image(tmp_path, pydicom_data):
    from radfound.tasks.results import Box

    src = pydicom_data("RG1_UNCR.dcm")
    study = study_of([src])
    study.views = [View(pixels=np.zeros((1841, 1955), np.float32), source=study.sources[0])]
    draft = a_draft()
    draft.boxes = [Box("nodule, right upper zone", 100.0, 220.5, 40.0, 300.0), Box("ignored", 1, 1, 2, 2, view_index=3),
                   Box("not a number", float("nan"), 1, 2, 2), Box("edge", -5, 1800, 2000, 1900)]
    out = write_sr(draft, study, tmp_path / "sr.dcm")
    check = validate_sr(out)
    assert unexpected_warnings(check) == []
    assert "SCOORD" in check.dump and "POLYLINE" in check.dump
    doc = pydicom.dcmread(out)
    findings = [i for i in doc.ContentSequence if i.get("ConceptNameCodeSequence")
                and i.ConceptNameCodeSequence[0].CodeValue == "121070"][0]
    boxed = [i for i in findings.ContentSequence if "ContentSequence" in i]
    assert [b.TextValue for b in boxed] == ["nodule, right upper zone", "edge"]
    assert [float(v) for v in boxed[1].ContentSequence[0].GraphicData][:4] == [0, 1800, 1955, 1800]  # clipped
    region = boxed[0].ContentSequence[0]
    assert region.RelationshipType == "INFERRED FROM" and region.GraphicType == "POLYLINE"
    assert [float(v) for v in region.GraphicData] == [40, 220.5, 100, 220.5, 100, 300, 40, 300, 40, 220.5]
    image = region.ContentSequence[0]
    assert image.RelationshipType == "SELECTED FROM"
    assert image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == study.sources[0].sop_instance_uid


def test_text_says_what_the_reader_noticed_and_when_the_draft_was_cut_off(tmp_path, pydicom_data):
    study = study_of([pydicom_data("RG1_UNCR.dcm")])
    assert "Input warning" not in write_text(a_draft(), tmp_path / "plain.txt", study).read_text()
    study.warnings.append("mammogram set is missing R-CC")
    draft = a_draft()
    draft.truncated = True
    lines = write_text(draft, tmp_path / "r.txt", study).read_text().splitlines()
    assert lines[-2:] == ["Input warning: mammogram set is missing R-CC",
                          "Note: The draft stopped at the model's token limit and may be cut off."]


def test_the_same_sections_with_other_comments_are_another_instance(pydicom_data):
    """An edit that only changes the headers' layout parses to the same sections; its 'edited' comment still
    makes it a different SR, so one UID never names two different objects."""
    study = study_of([pydicom_data("RG1_UNCR.dcm")])
    edited = build_sr(a_draft(), study, notes=["edited by a user"])
    as_generated = build_sr(a_draft(), study, notes=["saved as generated"])
    assert edited.SOPInstanceUID != as_generated.SOPInstanceUID
    assert build_sr(a_draft(), study).SOPInstanceUID == sr_uids(study.study_uid, "radfound-test", "0.1.0",
                                                                draft_digest(a_draft()))["sop_instance"]
