"""A real local Ray cluster for the scale-out tests: ``ray start --head --block`` on 127.0.0.1, own process group."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from radfound.pacs.orthanc import free_port

RAY = Path(sys.executable).with_name("ray")


def ray_env() -> dict[str, str]:
    """The environment of the head, the probes and every client: token authentication with this run's token."""
    return {**os.environ, **RAY_CLIENT_ENV}


# Ray's token authentication with a token made for this test run (``ray start`` does not make one, and a fresh
# machine has no ~/.ray/auth_token): the head and every client read it from the environment.
RAY_CLIENT_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


class RayCluster:
    """One head node with ``num_cpus`` CPUs; ``address`` is what ``--address`` takes. Stopped with its group."""

    def __init__(self, num_cpus: int = 2):
        self.num_cpus = num_cpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Ray's unix sockets live under the temp dir: it must be a short path (108-byte socket path limit)
        self.temp_dir = tempfile.mkdtemp(prefix="rf-ray-", dir="/tmp")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 120) -> RayCluster:
        cmd = [str(RAY), "start", "--head", "--block", f"--port={self.port}", "--node-ip-address=127.0.0.1",
               f"--num-cpus={self.num_cpus}", "--num-gpus=0", "--include-dashboard=false",
               f"--temp-dir={self.temp_dir}", "--object-store-memory=200000000", "--disable-usage-stats"]
        self.log = open(Path(self.temp_dir) / "ray-start.log", "w")
        self.proc = subprocess.Popen(cmd, env=ray_env(), stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited {self.proc.returncode}: "
                                   f"{(Path(self.temp_dir) / 'ray-start.log').read_text()[-2000:]}")
            probe = subprocess.run([str(RAY), "status", f"--address={self.address}"], env=ray_env(),
                                   capture_output=True, text=True)
            if probe.returncode == 0 and "CPU" in probe.stdout:
                return self
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"the Ray head did not come up within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                    self.proc.wait(timeout=30)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
        self.log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
