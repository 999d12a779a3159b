"""Write a file completely or not at all: a temp file in the same folder, then an atomic rename.

A batch killed mid-write (SIGKILL, power loss) therefore never leaves a
truncated SR, text or JSON file that a re-run would mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error delete it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:  # make the bytes durable before the rename publishes them
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def remove_stale_parts(path: str | Path) -> int:
    """Delete the temp files a killed writer left beside ``path``; returns how many.

    SIGKILL skips ``atomic_path``'s clean-up, so its ``.<name>.*.part`` stays behind.
    Call this only while no other writer can be writing ``path`` (the batch holds
    its journal's lock).
    """
    target = Path(path)
    if not target.parent.is_dir():
        return 0
    stale = list(target.parent.glob(f".{glob.escape(target.name)}.*.part"))
    for part in stale:
        part.unlink(missing_ok=True)
    return len(stale)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))
