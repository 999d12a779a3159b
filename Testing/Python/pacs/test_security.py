"""Security of the PACS path: credentials from env/config only, TLS verified by default, nothing sent
without a configured server, and no patient name or ID in any log line, progress output or journal."""

from __future__ import annotations

import http.server
import logging
import os
import shutil
import ssl
import subprocess
import sys
import threading

import pytest

from outputs.validators import unexpected_warnings, validate_sr
from pacs_helpers import chest_studies, fast_settings, upload_all
from radfound.cli.main import build_parser
from radfound.errors import ConfigError, PacsError
from radfound.pacs.batch import JOURNAL_NAME, EngineDrafter, ServerSource, run_batch
from radfound.pacs.dicomweb import DicomWebClient
from radfound.pacs.orthanc import OrthancServer, orthanc_available
from radfound.pacs.settings import PacsSettings

ENV_VARS = ("RADFOUND_DICOMWEB_URL", "RADFOUND_DICOMWEB_USER", "RADFOUND_DICOMWEB_PASSWORD",
            "RADFOUND_DICOMWEB_TOKEN", "RADFOUND_DICOMWEB_CA_BUNDLE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RADFOUND_DICOMWEB_CONFIG", str(tmp_path / "no-such-config.json"))


# -- credentials -----------------------------------------------------------------------------------
def test_credentials_from_environment_open_an_authenticated_orthanc(monkeypatch, tmp_path):
    if orthanc_available():
        pytest.skip(orthanc_available())
    with OrthancServer(tmp_path / "pacs", users={"reader": "night-shift-secret"}) as pacs:
        anonymous = DicomWebClient(fast_settings(pacs.dicomweb_url))
        with pytest.raises(PacsError, match=r"refused: HTTP 401 Unauthorized \(the server needs credentials: set "
                                            "RADFOUND_DICOMWEB_USER"):
            anonymous.search_studies()
        assert anonymous.attempts == 1  # a 4xx is not retried
        wrong = DicomWebClient(fast_settings(pacs.dicomweb_url, user="reader", password="day-shift"))
        with pytest.raises(PacsError, match=r"HTTP 401 Unauthorized \(the credentials were not accepted\)"):
            wrong.search_studies()

        monkeypatch.setenv("RADFOUND_DICOMWEB_USER", "reader")
        monkeypatch.setenv("RADFOUND_DICOMWEB_PASSWORD", "night-shift-secret")
        settings = PacsSettings.load(pacs.dicomweb_url)
        assert "night-shift-secret" not in repr(settings)
        assert DicomWebClient(settings).search_studies() == []


def test_config_file_supplies_url_and_token_and_warns_when_readable_by_others(monkeypatch, tmp_path, caplog):
    cfg = tmp_path / "dicomweb.json"
    cfg.write_text('{"url": "https://pacs.example.org/dicom-web", "token": "tok-123", "retries": 1}')
    cfg.chmod(0o644)
    monkeypatch.setenv("RADFOUND_DICOMWEB_CONFIG", str(cfg))
    with caplog.at_level(logging.WARNING):
        settings = PacsSettings.load()
    assert (settings.url, settings.token, settings.retries, settings.verify_tls) == (
        "https://pacs.example.org/dicom-web", "tok-123", 1, True)
    assert "tok-123" not in repr(settings) and "tok-123" not in caplog.text
    assert "chmod 600" in caplog.text
    cfg.write_text('{"url": "https://pacs.example.org", "pasword": "typo"}')
    with pytest.raises(ConfigError, match="expected a JSON object"):
        PacsSettings.load()


@pytest.mark.parametrize("url", ["https://user:pw@pacs.example.org/dicom-web", "htps://user:pw@pacs.example.org/x",
                                 "user:pw@pacs.example.org/dicom-web"])
def test_credentials_in_the_url_are_refused_and_never_echoed(url):
    with pytest.raises(ConfigError, match="credentials in the server URL are refused") as err:
        PacsSettings.load(url)
    assert "pw" not in str(err.value).replace("PASSWORD", "")  # checked before the scheme, which echoes the URL
    with pytest.raises(ConfigError, match="no query string") as err:
        PacsSettings.load("https://pacs.example.org/dicom-web?access_token=s3cret")
    assert "s3cret" not in str(err.value)
    with pytest.raises(ConfigError, match="port in the DICOMweb URL is not a number from 1 to 65535"):
        PacsSettings.load("http://pacs.example.org:99999/dicom-web")


def test_dates_are_checked_before_anything_is_asked_or_created(tmp_path, capsys):
    from radfound.cli.main import main

    out = tmp_path / "out"
    server = ["batch", "--server", "http://127.0.0.1:9/dicom-web", "--out", str(out)]
    assert main([*server, "--since", "2024-03-03", "--until", "2024-03-01"]) == 2
    assert "--since 2024-03-03 is after --until 2024-03-01: no study can match" in capsys.readouterr().err
    assert main([*server, "--since", "2024-13-01"]) == 2
    assert "--since: not a date (use YYYY-MM-DD): '2024-13-01'" in capsys.readouterr().err
    assert not out.exists()


def test_credentials_in_the_url_are_refused():
    with pytest.raises(ConfigError, match="no DICOMweb server configured"):
        PacsSettings.load()


def test_batch_command_has_no_credential_options():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    options = [s for a in sub.choices["batch"]._actions for s in a.option_strings]
    assert "--server" in options
    words = {w for o in options for w in o.lstrip("-").split("-")}
    assert not words & {"user", "username", "password", "pass", "token", "secret", "auth", "insecure", "credentials"}


# -- TLS -------------------------------------------------------------------------------------------
@pytest.fixture()
def https_server(tmp_path):
    """A real HTTPS QIDO endpoint with a self-signed certificate for 127.0.0.1 (answers '[]')."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


def test_tls_is_verified_by_default_and_a_ca_bundle_is_honoured(https_server, monkeypatch):
    url, cert = https_server
    default = PacsSettings.load(url)
    assert default.verify_tls is True
    with pytest.raises(PacsError, match="TLS verification failed") as err:
        DicomWebClient(fast_settings(url)).search_studies()  # self-signed: refused, and not retried
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    monkeypatch.setenv("RADFOUND_DICOMWEB_CA_BUNDLE", str(cert))
    trusted = PacsSettings.load(url, retries=0)
    assert trusted.verify_tls == str(cert)
    assert DicomWebClient(trusted).search_studies() == []


# -- nothing sent without a server -----------------------------------------------------------------
_CONNECTS: list = []
_WATCH = threading.Event()


def _audit(event: str, args) -> None:
    if event == "socket.connect" and _WATCH.is_set():
        _CONNECTS.append(args[1])


_HOOKED: list[bool] = []


def _watch_connections() -> None:
    """Install the audit hook once (hooks cannot be removed; it records only while _WATCH is set)."""
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED.append(True)


def test_folder_batch_without_a_server_opens_no_connection(tiny_model_dir, tmp_path, capsys):
    from radfound.cli.main import main

    chest_studies(tmp_path / "src", 2)
    _watch_connections()
    _CONNECTS.clear()
    _WATCH.set()
    try:
        rc = main(["batch", "--input", str(tmp_path / "src"), "--out", str(tmp_path / "out"),
                   "--model", str(tiny_model_dir), "--max-new-tokens", "8", "--no-progress"])
    finally:
        _WATCH.clear()
    assert rc == 0, capsys.readouterr().err
    assert "2 succeeded" in capsys.readouterr().out
    assert _CONNECTS == []
    for sr in (tmp_path / "out").glob("*.sr.dcm"):
        assert unexpected_warnings(validate_sr(sr)) == []


def test_store_without_a_server_is_a_one_line_error(tmp_path, capsys):
    from radfound.cli.main import main

    chest_studies(tmp_path / "src", 1)
    rc = main(["batch", "--input", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--store"])
    err = capsys.readouterr().err
    assert rc != 0 and "no DICOMweb server configured" in err and len(err.strip().splitlines()) == 1


def test_an_unfiltered_query_of_a_whole_pacs_is_refused(capsys):
    from radfound.cli.main import main

    rc = main(["batch", "--server", "https://pacs.example.org/dicom-web", "--out", "unused"])
    err = capsys.readouterr().err
    assert rc != 0 and "limit the query" in err


# -- no patient identifiers in logs ----------------------------------------------------------------
def test_patient_names_and_ids_never_reach_logs_progress_or_journal(orthanc, pacs, tiny_model_dir, tmp_path,
                                                                    caplog, capsys):
    upload_all(orthanc, chest_studies(tmp_path / "src", 3))
    out = tmp_path / "out"
    with caplog.at_level(logging.DEBUG):
        summary = run_batch(ServerSource(pacs, modality="CR"), out, EngineDrafter(tiny_model_dir, max_new_tokens=8),
                            store=pacs, workers=2, progress=True)
        orthanc.stop()  # failures and retries log warnings too
        with pytest.raises(PacsError):
            pacs.search_studies()
    assert summary.succeeded == 3
    seen = caplog.text + "".join(capsys.readouterr())
    seen += (out / JOURNAL_NAME).read_bytes().decode("latin-1")
    seen += "".join(p.read_text() for p in out.glob("*.txt")) + "".join(p.read_text() for p in out.glob("*.json"))
    assert "QIDO-RS" in caplog.text and "STOW-RS" in caplog.text  # the logs are really captured
    for i in range(3):
        assert f"Patient{i:04d}" not in seen and f"RFPAT{i:06d}" not in seen
    assert os.environ.get("RADFOUND_DICOMWEB_PASSWORD") is None
    for sr in out.glob("*.sr.dcm"):  # the SR is the one place the patient context belongs
        assert unexpected_warnings(validate_sr(sr)) == []
