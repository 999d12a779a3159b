"""An exclusive lock file in the model store (O_EXCL), so two installs or builds of one model never interleave.

The second caller waits for the first to finish (and then finds the model in place). A lock whose holder is gone
is broken: one written on this machine by a process that no longer runs (killed mid-download: the next install
must resume, not wait), or any lock older than ``stale`` seconds.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from radfound.errors import ModelError


class StoreLock:
    def __init__(self, path: Path, timeout: float = 1800.0, stale: float = 3600.0, poll: float = 0.5):
        self.path, self.timeout, self.stale, self.poll = Path(path), timeout, stale, poll

    def __enter__(self) -> "StoreLock":
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, f"{socket.gethostname()} {os.getpid()}".encode())
                os.close(fd)
                return self
            except FileExistsError:
                try:
                    if self._holder_gone() or time.time() - self.path.stat().st_mtime > self.stale:
                        self.path.unlink()
                        continue
                except FileNotFoundError:
                    continue
                if time.monotonic() > deadline:
                    raise ModelError("another install or build of this model has held its lock for too long "
                                     "(delete the lock file if no RadFound is running)", self.path) from None
                time.sleep(self.poll)

    def _holder_gone(self) -> bool:
        try:
            host, pid = self.path.read_text().split()
            if host != socket.gethostname():
                return False  # another machine's process (a shared store): only the age can tell
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except (OSError, ValueError):  # being written, unreadable, or a process of another user (still running)
            return False
        return False

    def __exit__(self, *exc) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
