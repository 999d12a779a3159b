"""Extract a model .zip without letting any entry escape the target folder.

Every entry is checked before anything is written: absolute paths, drive letters,
``..`` components, backslash-separated names and symbolic links are refused, as are
archives whose declared size would not fit on the disk (a zip bomb). A refused
archive leaves nothing behind: the caller extracts into a temporary folder that it
removes on failure.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from radfound.errors import ModelError


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\\" in name:
        return "uses backslashes (a Windows path that may escape the folder)"
    pure = PurePosixPath(name)
    if pure.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if ".." in pure.parts:
        return "contains '..' and would escape the model folder"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return None


def check_zip(zf: zipfile.ZipFile, archive: str | Path) -> list[zipfile.ZipInfo]:
    """The archive's entries, or ModelError naming the first entry that is not safe to extract."""
    infos = zf.infolist()
    seen: set[str] = set()
    for info in infos:
        problem = _entry_problem(info)
        if problem:
            raise ModelError(f"zip entry {info.filename!r} {problem}: refusing the archive", archive)
        key = info.filename.rstrip("/")
        if key in seen:
            raise ModelError(f"zip entry {info.filename!r} appears twice: refusing the archive", archive)
        seen.add(key)
    return infos


def extract_zip(archive: str | Path, dest: str | Path) -> None:
    """Extract ``archive`` into the existing empty folder ``dest`` after checking every entry."""
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"not a readable zip archive ({exc})", archive) from None
    with zf:
        infos = check_zip(zf, archive)
        needed = sum(i.file_size for i in infos)
        free = shutil.disk_usage(dest).free
        if needed > free:
            raise ModelError(f"archive expands to {needed} bytes but only {free} are free in {dest}", archive)
        root = dest.resolve()
        for info in infos:
            target = (root / info.filename).resolve()
            if target != root and root not in target.parents:  # belt and braces after check_zip
                raise ModelError(f"zip entry {info.filename!r} would escape the model folder", archive)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ModelError(f"zip entry {info.filename!r} cannot be extracted ({exc})", archive) from None
