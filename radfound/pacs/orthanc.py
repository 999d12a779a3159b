"""A real, private PACS for tests and benchmarks: Debian's Orthanc with the DICOMweb plugin.

``OrthancServer`` writes a config with free loopback ports and a temporary
storage folder, starts ``/usr/sbin/Orthanc``, waits until its REST API answers
and stops it again. RemoteAccessAllowed is false; Orthanc binds every interface
(it has no bind option), so clients only ever talk to 127.0.0.1.

Not used at run time against a real hospital PACS: there ``radfound.pacs.dicomweb``
talks to whatever server the user configured.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from radfound.errors import PacsError

ORTHANC_BINARY = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def orthanc_available() -> str | None:
    """None when Orthanc and its DICOMweb plugin are installed, else why not (for skip reasons)."""
    if not Path(ORTHANC_BINARY).exists():
        return f"{ORTHANC_BINARY} not installed (Debian package orthanc; `ci/setup --test` installs it)"
    if not Path(DICOMWEB_PLUGIN).exists():
        return f"{DICOMWEB_PLUGIN} not installed (Debian package orthanc-dicomweb)"
    return None


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OrthancServer:
    """One Orthanc process with its own storage; a context manager (start on enter, stop on exit)."""

    def __init__(self, workdir: str | Path | None = None, *, http_port: int | None = None,
                 users: dict[str, str] | None = None):
        """``users`` (name -> password) turns on HTTP Basic authentication."""
        self._own_dir = workdir is None
        self.users = dict(users or {})
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="radfound-orthanc-"))
        self.http_port = http_port or free_port()
        self.dicom_port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def _config(self) -> Path:
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        cfg = {
            "Name": "RadFoundTestPACS",
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": self.users,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "SaveJobs": False,
            "HttpThreadsCount": 16,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "StudiesMetadata": "Full"},
        }
        path = self.workdir / "orthanc.json"
        path.write_text(json.dumps(cfg, indent=2))
        return path

    def start(self, timeout_s: float = 30.0) -> OrthancServer:
        """Start Orthanc (same ports and storage as before when restarted) and wait until it answers."""
        reason = orthanc_available()
        if reason:
            raise PacsError(reason)
        logdir = self.workdir / "logs"
        logdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [ORTHANC_BINARY, f"--logdir={logdir}", str(self._config())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PacsError(f"Orthanc exited with code {self.process.returncode}; see logs", logdir)
            if self.is_up():
                return self
            time.sleep(0.05)
        self.stop()
        raise PacsError(f"Orthanc did not answer within {timeout_s:.0f} s", self.url)

    def is_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/system", timeout=1) as r:
                return r.status == 200
        except urllib.error.HTTPError as exc:
            return exc.code == 401 and bool(self.users)  # answering, and asking for credentials
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, *, kill: bool = False) -> None:
        """Stop Orthanc (storage is kept, so ``start`` brings the same PACS back); ``kill`` skips the
        graceful shutdown (about 3 s) when the storage is thrown away anyway."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        """Stop and, if this object created it, delete the storage folder."""
        self.stop(kill=self._own_dir)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- convenience for loading test data through Orthanc's own REST API --------------------------
    def upload(self, path: str | Path) -> dict:
        """POST one DICOM file to /instances; returns Orthanc's answer (ID, Status...)."""
        req = urllib.request.Request(f"{self.url}/instances", data=Path(path).read_bytes(),
                                     headers={"Content-Type": "application/dicom"}, method="POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def get_json(self, route: str):
        with urllib.request.urlopen(f"{self.url}{route}", timeout=30) as r:
            return json.loads(r.read())

    def instance_count(self) -> int:
        return int(self.get_json("/statistics")["CountInstances"])

