"""``radfound batch --compare-prior``: each study compared with the same patient's prior, found by QIDO-RS on a
real Orthanc (and in a folder), the SR referencing both, nothing retrieved left behind."""

from __future__ import annotations

import datetime
import json

import pydicom
import pytest

from outputs.validators import unexpected_warnings, validate_sr
from pacs_helpers import chest_cr
from radfound.pacs.batch import RETRIEVED_DIR, EngineDrafter, FolderSource, ServerSource, output_paths, run_batch
from radfound.pacs.sample_studies import clone_study


@pytest.fixture(scope="module")
def small():
    return EngineDrafter(None, device="cpu", max_new_tokens=32)  # the shipped radfound-small


def three_studies(folder):
    """Patient A on 2024-03-01 and 2024-06-01 (the same real CR radiograph), patient B on 2024-06-01."""
    made = {}
    for index, (patient, day) in enumerate((("A", datetime.date(2024, 3, 1)), ("A", datetime.date(2024, 6, 1)),
                                            ("B", datetime.date(2024, 6, 1)))):
        (path,) = clone_study([chest_cr()], folder, index, study_date=day)
        ds = pydicom.dcmread(path)
        ds.PatientID = f"RFPAT-{patient}"
        ds.save_as(path, enforce_file_format=True)
        made[(patient, day.month)] = (path, str(ds.StudyInstanceUID))
    return made


def check_outputs(out, made):
    (_, earlier), (_, later), (_, other) = made[("A", 3)], made[("A", 6)], made[("B", 6)]
    record = json.loads(output_paths(out, later)["json"].read_text())
    assert record["report"].startswith("COMPARISON:\nPrior: study of 2024-03-01.\n")
    assert record["changes"] and {c["status"] for c in record["changes"]} == {"unchanged"}  # the same image
    for uid in (earlier, other):  # the first study of A, and B, whose only study is not A's
        assert json.loads(output_paths(out, uid)["json"].read_text())["report"].startswith(
            "COMPARISON:\nNo prior available.\n")
    sr_path = output_paths(out, later)["sr"]
    assert unexpected_warnings(validate_sr(sr_path)) == []
    sr = pydicom.dcmread(sr_path)
    assert [e.StudyInstanceUID for e in sr.PertinentOtherEvidenceSequence] == [earlier]
    assert "COMPARISON" in output_paths(out, later)["txt"].read_text()


def test_priors_found_with_qido_on_a_real_pacs(orthanc, pacs, small, tmp_path):
    made = three_studies(tmp_path / "src")
    for path, _ in made.values():
        orthanc.upload(path)
    out = tmp_path / "out"
    summary = run_batch(ServerSource(pacs), out, small, store=pacs, workers=1, progress=False, compare_prior=True)
    assert (summary.succeeded, summary.failed) == (3, 0), summary.failures
    check_outputs(out, made)
    assert not (out / RETRIEVED_DIR).exists() or not any((out / RETRIEVED_DIR).iterdir())  # patient data gone
    # the drafts are now stored SRs inside the studies: the prior is still found by its images
    again = run_batch(ServerSource(pacs), tmp_path / "out2", small, workers=1, progress=False, compare_prior=True)
    assert again.succeeded == 3
    check_outputs(tmp_path / "out2", made)
    first_sr = pydicom.dcmread(output_paths(out, made[("A", 3)][1])["sr"])  # the earlier study's stored draft
    later = pydicom.dcmread(output_paths(tmp_path / "out2", made[("A", 6)][1])["sr"])
    (study_ref,) = later.PredecessorDocumentsSequence
    assert study_ref.StudyInstanceUID == made[("A", 3)][1]
    refs = [i.ReferencedSOPInstanceUID for se in study_ref.ReferencedSeriesSequence for i in se.ReferencedSOPSequence]
    assert refs == [first_sr.SOPInstanceUID]


def test_priors_found_in_a_folder(small, tmp_path):
    made = three_studies(tmp_path / "src")
    out = tmp_path / "out"
    summary = run_batch(FolderSource(tmp_path / "src"), out, small, workers=1, progress=False, compare_prior=True)
    assert (summary.succeeded, summary.failed) == (3, 0), summary.failures
    check_outputs(out, made)
    assert "PredecessorDocumentsSequence" not in pydicom.dcmread(output_paths(out, made[("A", 6)][1])["sr"])
