"""``Resources/models.json``: the index of the models shipped inside the extension.

One entry per shipped model folder (``Resources/models/<name>/``) with its name, family,
version, licence, source, total size and the sha256 and size of every file, copied from
the folder's ``manifest.json`` by :func:`refresh_index` (``radfound models refresh-index``)
so that the two never drift. The index is a second, independent record: a shipped model
whose manifest no longer agrees with it refuses to verify. Entries whose folder is absent
(e.g. a clone without the large files) are kept as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from radfound.config import RESOURCES_DIR
from radfound.errors import IntegrityError, ModelError
from radfound.registry.manifest import MANIFEST_NAME, read_manifest, sha256_file

INDEX_PATH = RESOURCES_DIR / "models.json"
SHIPPED_MODELS_DIR = RESOURCES_DIR / "models"


def manifest_source(manifest: dict) -> str:
    """Where a model came from, in one line (manifest ``source`` or its provenance)."""
    if manifest.get("source"):
        return str(manifest["source"])
    prov = manifest.get("provenance")
    if isinstance(prov, dict):
        return str(prov.get("source") or prov.get("trained_by") or json.dumps(prov, sort_keys=True))
    return str(prov or "unknown")


def index_entry(model_dir: str | Path, resources_dir: str | Path = RESOURCES_DIR) -> dict:
    """The index entry of a model folder, built from its manifest."""
    root = Path(model_dir)
    manifest = read_manifest(root)
    files = {rel: {"sha256": e.get("sha256"), "size": e.get("size")} for rel, e in sorted(manifest["files"].items())}
    try:
        rel_path = root.resolve().relative_to(Path(resources_dir).resolve()).as_posix()
    except ValueError:
        rel_path = root.as_posix()
    return {
        "name": manifest.get("name") or root.name,
        "family": manifest.get("family", "unknown"),
        "version": str(manifest.get("model_version", "")),
        "licence": manifest.get("licence", "unknown"),
        "source": manifest_source(manifest),
        "path": rel_path,
        "size": sum(int(e.get("size") or 0) for e in files.values()),
        "manifest_sha256": sha256_file(root / MANIFEST_NAME),
        "files": files,
    }


def read_index(path: str | Path = INDEX_PATH) -> list[dict]:
    """Entries of ``models.json`` (empty list if the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"models index is not valid JSON ({exc})", path) from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list) or not all(isinstance(m, dict) and m.get("name") for m in models):
        raise ModelError("models index has no 'models' list of named entries", path)
    return models


def write_index(entries: list[dict], path: str | Path = INDEX_PATH) -> None:
    path = Path(path)
    body = {
        "comment": "Models shipped with RadFound. Generated from each folder's manifest.json by "
        "`radfound models refresh-index`; do not edit by hand.",
        "models": sorted(entries, key=lambda e: e["name"]),
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def refresh_index(
    path: str | Path = INDEX_PATH,
    models_dir: str | Path = SHIPPED_MODELS_DIR,
    resources_dir: str | Path = RESOURCES_DIR,
) -> list[dict]:
    """Rewrite ``models.json`` from the manifests of the shipped model folders; returns the entries."""
    entries = {e["name"]: e for e in read_index(path)}
    models_dir = Path(models_dir)
    if models_dir.is_dir():
        for folder in sorted(p for p in models_dir.iterdir() if (p / MANIFEST_NAME).is_file()):
            entry = index_entry(folder, resources_dir)
            entries[entry["name"]] = entry
    write_index(list(entries.values()), path)
    return sorted(entries.values(), key=lambda e: e["name"])


def check_against_index(model_dir: str | Path, entry: dict) -> None:
    """Raise IntegrityError if a shipped folder's manifest lists other files or hashes than the index, or (when
    the index records it) is not byte for byte the manifest indexed: its metadata was edited too."""
    root = Path(model_dir)
    if not entry.get("files"):
        return  # index entry not filled yet (model not built when the index was written)
    listed = read_manifest(root)["files"]
    for rel in sorted(set(entry["files"]) | set(listed)):
        want, have = entry["files"].get(rel), listed.get(rel)
        if want is None or have is None or want.get("sha256") != have.get("sha256"):
            raise IntegrityError(
                "manifest.json does not agree with Resources/models.json for this file "
                "(sha256 does not match the shipped index)",
                root / rel,
            )
    recorded = entry.get("manifest_sha256")
    if recorded and sha256_file(root / MANIFEST_NAME) != recorded:
        raise IntegrityError(
            "does not agree with Resources/models.json (its sha256 is not the one the shipped index records)",
            root / MANIFEST_NAME,
        )
