"""Fixtures of the Slicer extension tests: a real slicer-core scene, real DICOM loaded into it."""

from __future__ import annotations

import pytest

from slicer_app import slicer_core  # noqa: F401  (fixture)


@pytest.fixture()
def cxr_node(slicer_core, pydicom_data):  # noqa: F811
    """A real chest PA radiograph (pydicom-data RG1_UNCI.dcm, CR) loaded by Slicer's volumes logic."""
    return slicer_core.load_volume(pydicom_data("RG1_UNCI.dcm"), name="chest PA")


@pytest.fixture()
def feedback_log(tmp_path, monkeypatch):
    """Keep the human-evaluation log of a test inside its temporary folder."""
    path = tmp_path / "feedback.jsonl"
    monkeypatch.setenv("RADFOUND_FEEDBACK_LOG", str(path))
    return path


@pytest.fixture(autouse=True)
def sr_folder(tmp_path, monkeypatch):
    """Keep the DICOM SRs that saving a draft writes inside the test's temporary folder."""
    path = tmp_path / "sr"
    monkeypatch.setenv("RADFOUND_SR_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def similar_folder(tmp_path, monkeypatch):
    """Keep the similar-case index that saving a draft adds to inside the test's temporary folder."""
    path = tmp_path / "similar"
    monkeypatch.setenv("RADFOUND_SIMILAR_DIR", str(path))
    return path
