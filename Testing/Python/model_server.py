"""A real HTTP server on 127.0.0.1 for the install tests: serves a folder with Range support and injected faults.

Faults, set per file path on the running server: ``drop_after[path] = n`` closes the connection after ``n`` bytes
(``drops_left[path]`` times), ``rate[path] = bytes_per_s`` throttles, ``status[path] = 503`` answers an error.
Every request is logged as ``(path, Range header or None)``.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = Path(root)
        self.drop_after: dict[str, int] = {}
        self.drops_left: dict[str, int] = {}
        self.rate: dict[str, float] = {}
        self.status: dict[str, int] = {}
        self.log: list[tuple[str, str | None]] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> "ModelServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):  # the client went away (a killed install): expected
            pass

    def _get(self) -> None:
        path = self.path.lstrip("/")
        rng = self.headers.get("Range")
        self.server.log.append((path, rng))
        if path in self.server.status:
            self.send_error(self.server.status[path])
            return
        file = self.server.root / path
        if not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        start = 0
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = None
        if self.server.drops_left.get(path, 0) > 0:
            self.server.drops_left[path] -= 1
            cut = self.server.drop_after.get(path)
        rate = self.server.rate.get(path)
        sent, step = 0, 4096
        while sent < len(body):
            if cut is not None and sent >= cut:
                self.wfile.flush()
                self.connection.shutdown(2)  # the connection drops mid-file
                return
            chunk = body[sent:sent + step]
            self.wfile.write(chunk)
            sent += len(chunk)
            if rate:
                time.sleep(len(chunk) / rate)
