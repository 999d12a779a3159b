"""Retries with exponential backoff, then PacsError: real refused ports, real 500s, real timeouts."""

from __future__ import annotations

import pytest

from pacs_helpers import FaultServer, chest_studies, fast_settings, upload_all
from radfound.errors import PacsError
from radfound.pacs.dicomweb import DicomWebClient
from radfound.pacs.orthanc import free_port


def client_of(url: str, **kw) -> tuple[DicomWebClient, list[float]]:
    waits: list[float] = []
    return DicomWebClient(fast_settings(url, **kw), sleep=waits.append), waits


def test_server_down_retries_with_backoff_then_pacs_error():
    client, waits = client_of(f"http://127.0.0.1:{free_port()}/dicom-web", retries=3)
    with pytest.raises(PacsError, match="failed after 4 attempts: cannot connect"):
        client.search_studies(modality="CR")
    assert client.attempts == 4
    assert waits == [0.05, 0.1, 0.2]  # exponential backoff


def test_http_500_is_retried_then_reported():
    with FaultServer(status=500) as bad:
        client, waits = client_of(bad.url)
        with pytest.raises(PacsError, match="HTTP 500") as err:
            client.search_studies()
        assert bad.hits == 3 and waits == [0.05, 0.1]
    assert bad.url in str(err.value)


def test_transient_500s_recover_through_a_real_proxy_to_orthanc(orthanc, tmp_path):
    upload_all(orthanc, chest_studies(tmp_path, 2))
    with FaultServer(status=503, fail_first=2, target=orthanc.url) as flaky:
        client, waits = client_of(flaky.url + "/dicom-web")
        hits = client.search_studies(modality="CR")
    assert len(hits) == 2
    assert flaky.hits == 3 and waits == [0.05, 0.1]


def test_timeouts_are_retried_then_reported():
    with FaultServer(status=200, delay_s=1.0) as slow:
        client, waits = client_of(slow.url, timeout_s=0.2, retries=1)
        with pytest.raises(PacsError, match="failed after 2 attempts: timed out"):
            client.search_studies()
    assert waits == [0.05]


def test_client_errors_are_not_retried():
    with FaultServer(status=404) as missing:
        client, waits = client_of(missing.url)
        with pytest.raises(PacsError, match="refused: HTTP 404"):
            client.retrieve_study("1.2.3", "unused")
    assert missing.hits == 1 and waits == []


def test_a_server_ignoring_the_qido_offset_is_an_error_not_a_short_list(monkeypatch):
    import http.server
    import json
    import threading

    import radfound.pacs.dicomweb as dicomweb

    body = json.dumps([{"0020000D": {"vr": "UI", "Value": [f"1.2.3.{i}"]}} for i in (1, 2)]).encode()

    class SamePage(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # always the first page, whatever the offset
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SamePage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(dicomweb, "QIDO_PAGE", 2)
        client, _ = client_of(f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(PacsError, match="ignores the QIDO-RS offset"):
            client.search_studies(since="2024-03-01")
    finally:
        server.shutdown()
        server.server_close()


def test_a_store_answer_that_lists_a_failure_or_omits_the_instance_is_a_refusal():
    """HTTP 200/202 with FailedSOPSequence, or without our instance in ReferencedSOPSequence, stored nothing."""
    from pydicom.dataset import Dataset

    from radfound.pacs.dicomweb import _check_stored

    def item(uid, reason=None):
        ds = Dataset()
        ds.ReferencedSOPInstanceUID = uid
        if reason is not None:
            ds.FailureReason = reason
        return ds

    ok = Dataset()
    ok.ReferencedSOPSequence = [item("1.2.3")]
    _check_stored(ok, ["1.2.3"], "http://pacs")
    failed = Dataset()
    failed.FailedSOPSequence = [item("1.2.3", 0x0110)]
    with pytest.raises(PacsError, match=r"did not store 1\.2\.3 \(failure reason 0x0110\)"):
        _check_stored(failed, ["1.2.3"], "http://pacs")
    silent = Dataset()
    silent.FailedSOPSequence = []  # Orthanc with a Lua filter that drops the instance answers like this
    with pytest.raises(PacsError, match=r"did not confirm storing 1\.2\.3"):
        _check_stored(silent, ["1.2.3"], "http://pacs")


def test_only_an_outage_counts_towards_stopping_a_batch():
    """Unreachable after every retry is PacsUnavailable; a refusal (HTTP 4xx) is a plain PacsError."""
    from radfound.errors import PacsUnavailable

    client, _ = client_of(f"http://127.0.0.1:{free_port()}/dicom-web", retries=1)
    with pytest.raises(PacsUnavailable):
        client.search_studies()
    with FaultServer(status=404) as bad:
        client, _ = client_of(bad.url)
        with pytest.raises(PacsError) as err:
            client.search_studies()
        assert not isinstance(err.value, PacsUnavailable)


def test_a_temporary_resolver_failure_is_retried_but_an_unknown_host_is_not():
    import requests

    from radfound.pacs.dicomweb import _retriable

    temporary = requests.ConnectionError("NameResolutionError: Failed to resolve 'pacs' ([Errno -3] Temporary "
                                         "failure in name resolution)")
    unknown = requests.ConnectionError("NameResolutionError: Failed to resolve 'pacs' ([Errno -2] Name or "
                                       "service not known)")
    assert _retriable(temporary) and not _retriable(unknown)
