"""Helpers for the PACS tests: real DICOM studies, fast retry settings, a real faulty HTTP server."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.request
from pathlib import Path

from pydicom.data import get_testdata_file

from radfound.pacs.sample_studies import clone_study
from radfound.pacs.settings import PacsSettings


def fast_settings(url: str, **kw) -> PacsSettings:
    """Settings with short backoff so fault tests stay fast (same policy, shorter waits)."""
    base = {"retries": 2, "backoff_s": 0.05, "timeout_s": 10.0}
    base.update(kw)
    return PacsSettings(url, **base)


def chest_cr() -> Path:
    return Path(get_testdata_file("RG1_UNCR.dcm"))


def ct_series() -> list[Path]:
    folder = Path(get_testdata_file("CT_small.dcm")).parent / "dicomdirtests" / "98892001" / "CT5N"
    return sorted(folder.iterdir())


def chest_studies(folder: Path, n: int, start: int = 0) -> list[list[Path]]:
    """``n`` distinct CR chest studies (new UIDs, accession RF%06d, dates from 2024-03-01) written to ``folder``."""
    return [clone_study([chest_cr()], folder, i) for i in range(start, start + n)]


def upload_all(orthanc, studies) -> None:
    for files in studies:
        for f in files:
            orthanc.upload(f)


class FaultServer:
    """A real local HTTP server that misbehaves: fails ``fail_first`` requests (all if None) with ``status``,
    or sleeps ``delay_s`` before answering; after the failures it forwards requests to ``target``."""

    def __init__(self, *, status: int = 500, fail_first: int | None = None, delay_s: float = 0.0,
                 target: str | None = None):
        self.status, self.fail_first, self.delay_s, self.target = status, fail_first, delay_s, target
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                outer.hits += 1
                n = outer.hits
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if self.command == "POST" else None
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                if outer.fail_first is None or n <= outer.fail_first or outer.target is None:
                    self.send_response(outer.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                req = urllib.request.Request(outer.target + self.path, data=body, method=self.command,
                                             headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                with urllib.request.urlopen(req, timeout=30) as r:
                    data = r.read()
                    self.send_response(r.status)
                    for k, v in r.headers.items():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            do_GET = do_POST = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
