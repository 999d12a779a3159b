"""A real PACS per test: Debian's Orthanc with the DICOMweb plugin on free loopback ports."""

from __future__ import annotations

import pytest

from radfound.pacs.dicomweb import DicomWebClient
from radfound.pacs.orthanc import OrthancServer, orthanc_available

from pacs_helpers import fast_settings


@pytest.fixture()
def orthanc(tmp_path):
    """A fresh, empty Orthanc (temporary storage), stopped at teardown."""
    reason = orthanc_available()
    if reason:
        pytest.skip(reason)
    server = OrthancServer(tmp_path / "orthanc")
    server.start()
    yield server
    server.stop(kill=True)  # the storage is a tmp_path: no need for a graceful shutdown


@pytest.fixture()
def pacs(orthanc):
    """A DICOMweb client of the test Orthanc."""
    return DicomWebClient(fast_settings(orthanc.dicomweb_url))
