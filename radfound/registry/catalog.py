"""``Resources/registry.json``: the models RadFound can install, with what each needs (like MONAIAuto3DSeg's
``Models.json``).

One entry per model::

    {"name": "radfound-base", "family": "radfound", "version": "0.1.0", "licence": "...",
     "size": 278700000, "memory_mb": 800, "description": "...", "install": "build"}
    {"name": "...", "install": "download", "pinned": true,
     "files": [{"path": "onnx/decoder_model_merged.onnx", "urls": ["https://...", "https://mirror..."],
                "sha256": "...", "size": 123}, ...]}

``install`` says how: ``build`` (assembled from its kit and pinned package, radfound.assembly.build),
``shipped`` (inside the extension already) or ``download`` (every file from its URLs, checked by sha256 and
size). An entry whose files' hashes are not known yet has ``"pinned": false`` and null hashes: it installs
only when the user accepts to trust the files as downloaded (``--unpinned``), and their hashes are then
recorded in the model's manifest, as ``models import --create-manifest`` does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from radfound.config import RESOURCES_DIR
from radfound.errors import ModelError

REGISTRY_PATH = RESOURCES_DIR / "registry.json"
INSTALL_KINDS = ("build", "shipped", "download")


@dataclass(frozen=True)
class RemoteFile:
    path: str  # inside the model folder, POSIX
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    family: str
    version: str
    licence: str
    install: str
    size: int | None = None
    memory_mb: int | None = None
    description: str = ""
    pinned: bool = True
    files: tuple[RemoteFile, ...] = field(default_factory=tuple)

    @property
    def known_size(self) -> int | None:
        if self.install != "download":
            return self.size
        sizes = [f.size for f in self.files]
        return sum(sizes) if sizes and None not in sizes else self.size


def _file(d: dict, where: Path) -> RemoteFile:
    path = str(d.get("path", ""))
    if not path or path.startswith("/") or ".." in Path(path).parts:
        raise ModelError(f"a file entry needs a relative path inside the model folder, not {path!r}", where)
    urls = d.get("urls")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
        raise ModelError(f"file {path}: 'urls' must be a non-empty list of URLs", where)
    sha, size = d.get("sha256"), d.get("size")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
        raise ModelError(f"file {path}: 'sha256' must be 64 hex digits or null", where)
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ModelError(f"file {path}: 'size' must be a whole number of bytes or null", where)
    return RemoteFile(path, tuple(urls), sha, size)


def read_catalog(path: str | Path | None = None) -> list[CatalogEntry]:
    """Every entry of the registry (``RADFOUND_REGISTRY`` names another file); ModelError naming a bad one."""
    path = Path(path or os.environ.get("RADFOUND_REGISTRY") or REGISTRY_PATH)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model registry ({exc})", path) from None
    out = []
    for d in data.get("models", []) if isinstance(data, dict) else []:
        name = d.get("name") if isinstance(d, dict) else None
        if not isinstance(name, str) or not name:
            raise ModelError("a registry entry has no name", path)
        if d.get("install") not in INSTALL_KINDS:
            raise ModelError(f"{name}: 'install' must be one of {', '.join(INSTALL_KINDS)}", path)
        files = tuple(_file(f, path) for f in d.get("files", []))
        pinned = bool(d.get("pinned", True))
        if d["install"] == "download":
            if not files:
                raise ModelError(f"{name}: a download entry lists its files", path)
            if pinned and any(f.sha256 is None or f.size is None for f in files):
                raise ModelError(f"{name}: a pinned entry needs every file's sha256 and size", path)
        out.append(CatalogEntry(name=name, family=str(d.get("family", "unknown")), version=str(d.get("version", "")),
                                licence=str(d.get("licence", "unknown")), install=d["install"], size=d.get("size"),
                                memory_mb=d.get("memory_mb"), description=str(d.get("description", "")),
                                pinned=pinned, files=files))
    return out


def catalog_entry(name: str, path: str | Path | None = None) -> CatalogEntry:
    entries = read_catalog(path)
    for e in entries:
        if e.name == name:
            return e
    known = ", ".join(e.name for e in entries) or "none"
    raise ModelError(f"no model called {name!r} in the registry (installable: {known})")
