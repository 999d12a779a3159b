"""A model folder's manifest: the sha256 and size of every file, plus version, licence and provenance.

``manifest.json`` sits at the root of a model folder::

    {"name": "radfound-small", "family": "radfound", "model_version": "0.1.0",
     "licence": "...", "provenance": {...},
     "files": {"onnx/decoder_model_merged.onnx": {"sha256": "...", "size": 123}, ...}}

The runtime verifies it before any session is created, so a tampered or truncated
file refuses to load with a message that names it. Manifests are JSON: nothing in
the runtime path ever unpickles a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from radfound.errors import IntegrityError, ModelError

MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (model files can be gigabytes)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(model_dir: str | Path, **meta) -> dict:
    """Hash every file under ``model_dir`` (except the manifest) and write ``manifest.json``."""
    root = Path(model_dir)
    files = {
        p.relative_to(root).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in (MANIFEST_NAME, MANIFEST_NAME + ".tmp")
    }
    manifest = {**meta, "files": files}
    tmp = root / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, root / MANIFEST_NAME)  # atomic: a reader never sees half a manifest
    return manifest


#: Manifest fields that name or describe the model: a string or null when present (a name is a folder name).
TEXT_FIELDS = ("name", "family", "licence", "source")


def read_json_object(path: Path) -> dict:
    """A JSON file that must hold an object; ModelError naming the file otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read JSON ({exc})", path) from None
    if not isinstance(data, dict):
        raise ModelError(f"must hold a JSON object, not a {type(data).__name__}", path)
    return data


def read_manifest(model_dir: str | Path) -> dict:
    """The manifest of a folder, its shape checked (an object with a 'files' table of objects, string
    name/family/licence/source), so listing and importing never trip over a malformed one."""
    path = Path(model_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ModelError("no manifest.json: not a RadFound model folder, or an incomplete copy", model_dir)
    manifest = read_json_object(path)
    if not isinstance(manifest.get("files"), dict):
        raise ModelError("manifest.json has no 'files' table", path)
    for key in TEXT_FIELDS:
        if manifest.get(key) is not None and not isinstance(manifest[key], str):
            raise ModelError(f"manifest.json {key!r} must be a string, not {manifest[key]!r}", path)
    for rel, entry in manifest["files"].items():
        if not isinstance(entry, dict):
            raise ModelError(f"manifest entry {rel!r} is not an object", path)
        size = entry.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise ModelError(f"manifest entry {rel!r} has size {size!r}, not a byte count", path)
        if not isinstance(entry.get("sha256", ""), str):
            raise ModelError(f"manifest entry {rel!r} has sha256 {entry['sha256']!r}, not a hex string", path)
    return manifest


#: Files a runtime may load; one of these present but not in the manifest is refused, so an
#: unlisted graph (e.g. a swapped-in ``decoder_model_merged_q4.onnx``) can never bypass the check.
LOADABLE_SUFFIXES = (".onnx", ".onnx_data", ".json", ".ort")


def unlisted_files(model_dir: str | Path, manifest: dict, suffixes: tuple[str, ...] | None = LOADABLE_SUFFIXES
                   ) -> list[str]:
    """Files in the folder that the manifest does not list (relative POSIX paths): the loadable ones by
    default, every one with ``suffixes=None``."""
    root = Path(model_dir)
    return [
        rel
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.name != MANIFEST_NAME
        and (suffixes is None or p.suffix in suffixes)
        and (rel := p.relative_to(root).as_posix()) not in manifest["files"]
    ]


def verify_model_dir(model_dir: str | Path, *, check_hashes: bool = True) -> dict:
    """Check every file listed in the manifest exists with the recorded size and sha256.

    Returns the manifest; raises IntegrityError naming the first file that does not match,
    or a loadable file the manifest does not list. ``check_hashes=False`` checks presence
    and sizes only (fast, for listings); loading always checks hashes.
    """
    root = Path(model_dir)
    manifest = read_manifest(root)
    extra = unlisted_files(root, manifest)
    if extra:
        raise IntegrityError("not listed in manifest.json: refusing a model file that cannot be verified", root / extra[0])
    for rel, entry in manifest["files"].items():
        if not isinstance(entry, dict):
            raise ModelError(f"manifest entry {rel!r} is not an object", root / MANIFEST_NAME)
        path = (root / rel).resolve()
        if root.resolve() not in path.parents:
            raise IntegrityError(f"manifest entry {rel!r} points outside the model folder", root)
        if not path.is_file():
            raise IntegrityError("listed in manifest.json but missing", path)
        if path.stat().st_size != entry.get("size", path.stat().st_size):
            raise IntegrityError(
                f"size {path.stat().st_size} does not match the manifest ({entry['size']}): truncated or replaced", path
            )
        if check_hashes and sha256_file(path) != entry.get("sha256"):
            raise IntegrityError("sha256 does not match the manifest: the file was modified or corrupted", path)
    return manifest
