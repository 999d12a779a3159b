"""Write a file completely or not at all: a temp file in the same folder, then an atomic rename.

A batch killed mid-write (SIGKILL, power loss) therefore never leaves a
truncated SR, text or JSON file that a re-run would mistake for a finished one.
A target that cannot be written (a folder, a read-only place, a full disk) raises
OutputError naming it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from radfound.errors import OutputError


def _file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 less the umask); mkstemp alone gives 0o600."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


#: Read once at import: os.umask can only be read by setting it, which is not thread-safe later.
FILE_MODE = _file_mode()


def check_writable_file(path: str | Path) -> Path:
    """Raise OutputError now when ``path`` cannot become a file, before any work is spent on it."""
    target = Path(path)
    if target.is_dir():
        raise OutputError("is a folder; give a file name", target)
    parent = next((p for p in (target.parent, *target.parent.parents) if p.exists()), Path("."))
    if not parent.is_dir():
        raise OutputError(f"cannot create a file here: {parent} is not a folder", target)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot create a file here: {parent} is not writable", target)
    return target


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error delete it."""
    target = check_writable_file(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", target) from exc
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            with open(tmp_path, "rb+") as fh:  # make the bytes durable before the rename publishes them
                os.fsync(fh.fileno())
            os.chmod(tmp_path, FILE_MODE)
            os.replace(tmp_path, target)
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", target) from exc
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
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", path) from exc
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` (a model folder appears
    complete or not at all), on error it is deleted."""
    import shutil

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is meant to be shared
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
