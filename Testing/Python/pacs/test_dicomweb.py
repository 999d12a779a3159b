"""QIDO-RS / WADO-RS / STOW-RS against a real Orthanc loaded with real DICOM files."""

from __future__ import annotations

import pydicom

from outputs.validators import unexpected_warnings, validate_sr
from pacs_helpers import chest_studies, ct_series, upload_all
from radfound.outputs.sr import write_sr
from radfound.study.model import SourceRef, Study
from radfound.tasks.results import Draft


def test_qido_filters_by_date_range_modality_and_accession(orthanc, pacs, tmp_path):
    upload_all(orthanc, chest_studies(tmp_path, 4))  # CR, 2024-03-01 .. 2024-03-04, accession RF000000..3
    upload_all(orthanc, [ct_series()])
    ct_uid = str(pydicom.dcmread(ct_series()[0], stop_before_pixels=True).StudyInstanceUID)

    every = pacs.search_studies()
    assert len(every) == 5
    in_range = pacs.search_studies(since="2024-03-02", until="2024-03-03")
    assert sorted(h.accession for h in in_range) == ["RF000001", "RF000002"]
    assert [h.study_uid for h in pacs.search_studies(modality="CT")] == [ct_uid]
    assert len(pacs.search_studies(modality="CR")) == 4
    one = pacs.search_studies(accession="RF000003")
    assert [(h.accession, h.modalities, h.study_date) for h in one] == [("RF000003", ("CR",), "20240304")]
    assert pacs.search_studies(since="2030-01-01") == []


def test_qido_paging_finds_every_study(orthanc, pacs, tmp_path, monkeypatch):
    """Pages of 2: Orthanc 1.10 pages wrongly with a server-side ModalitiesInStudy filter (2 of 5 found);
    the client filters the modality itself, so every study is found."""
    import radfound.pacs.dicomweb as dicomweb

    upload_all(orthanc, chest_studies(tmp_path, 5) + [ct_series()])
    monkeypatch.setattr(dicomweb, "QIDO_PAGE", 2)
    assert len(pacs.search_studies()) == 6
    assert len(pacs.search_studies(modality="CR")) == 5
    assert len(pacs.search_studies(modality="ct")) == 1
    assert len(pacs.search_studies(since="2024-03-01", until="2024-03-05", modality="CR")) == 5
    assert pacs.attempts >= 4 + 4 + 4  # really paged (4 requests of 2 for 6 studies)


def test_wado_retrieves_every_instance_unchanged(orthanc, pacs, tmp_path):
    upload_all(orthanc, [ct_series()])
    sources = {str(pydicom.dcmread(p).SOPInstanceUID): pydicom.dcmread(p) for p in ct_series()}
    uid = next(iter(sources.values())).StudyInstanceUID
    files = pacs.retrieve_study(uid, tmp_path / "retrieved")
    assert sorted(f.stem for f in files) == sorted(sources)
    for f in files:
        got = pydicom.dcmread(f)
        assert got.PixelData == sources[f.stem].PixelData
        assert got.file_meta.TransferSyntaxUID == sources[f.stem].file_meta.TransferSyntaxUID
    assert not list((tmp_path / "retrieved").glob(".*.part"))


def test_stow_sr_is_found_back_retrieved_valid_and_idempotent(orthanc, pacs, tmp_path):
    (files,) = chest_studies(tmp_path / "in", 1)
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    orthanc.upload(files[0])
    study = Study(kind="cxr", sources=[SourceRef(path=str(files[0]), study_uid=ds.StudyInstanceUID,
                                                 sop_instance_uid=ds.SOPInstanceUID, sop_class_uid=ds.SOPClassUID)])
    draft = Draft(findings="No effusion.", impression="Normal chest.", model="radfound-test",
                  provider="CPUExecutionProvider", model_version="1")
    sr_path = write_sr(draft, study, tmp_path / "sr.dcm")

    pacs.store([sr_path])
    found = pacs.search_instances(ds.StudyInstanceUID, modality="SR")
    assert len(found) == 1
    sr_uid = found[0]["00080018"]["Value"][0]
    series_uid = found[0]["0020000E"]["Value"][0]
    assert sr_uid == pydicom.dcmread(sr_path).SOPInstanceUID
    back = pacs.retrieve_instance(ds.StudyInstanceUID, series_uid, sr_uid)
    back.save_as(tmp_path / "back.dcm", enforce_file_format=True)
    assert unexpected_warnings(validate_sr(tmp_path / "back.dcm")) == []
    assert back.PatientID == ds.PatientID and back.VerificationFlag == "UNVERIFIED"

    before = orthanc.instance_count()
    pacs.store([sr_path])  # same SOP Instance UID again: no duplicate
    assert orthanc.instance_count() == before == 2
    assert len(pacs.search_instances(ds.StudyInstanceUID, modality="SR")) == 1
