"""``radfound models install NAME [--from DIR]``: a registry model into the user store, all or nothing.

- ``build`` entries (radfound-base) are assembled from their kit (radfound.assembly.build);
- ``shipped`` entries are already inside the extension: nothing to do;
- ``download`` entries: under the store's lock for that model, the disk space still needed is checked first,
  then each file goes into ``<store>/.<name>.partial/`` (kept between runs, so a killed or dropped download
  resumes; a file already there and matching is not fetched again) from its URLs (radfound.registry.download)
  or, offline, from ``--from DIR`` (the file at its path, or by its name, in DIR), each checked against the
  registry's sha256 and size. Then the manifest is written and the folder renamed into place in one step:
  the store never shows half a model. A concurrent install of the same model waits and then finds it done.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Callable

from radfound.config import models_store_dir
from radfound.errors import ModelError
from radfound.registry.catalog import CatalogEntry, RemoteFile, catalog_entry
from radfound.registry.download import Progress, _hash_of, fetch
from radfound.registry.locks import StoreLock
from radfound.registry.manifest import MANIFEST_NAME, verify_model_dir, write_manifest

#: Free space kept beyond the model's own bytes (the manifest, file system slack).
SPARE_BYTES = 16 * 1024 * 1024


def _done(dest: Path, f: RemoteFile) -> bool:
    return dest.is_file() and (f.size is None or dest.stat().st_size == f.size) and (
        f.sha256 is None or _hash_of(dest) == f.sha256)


def _still_needed(staging: Path, entry: CatalogEntry) -> int:
    need = 0
    for f in entry.files:
        dest = staging / f.path
        if dest.is_file() and (f.size is None or dest.stat().st_size == f.size):
            continue
        part = dest.with_name(dest.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        need += max((f.size or 0) - have, 0)
    return need


def check_space(store: Path, need: int) -> None:
    free = shutil.disk_usage(store).free
    if need + SPARE_BYTES > free:
        raise ModelError(f"not enough disk space: the model needs {need / 1e6:.0f} MB more, {free / 1e6:.0f} MB are "
                         "free here (free some space or set RADFOUND_MODELS to another disk)", store)


def _copy_local(src_dir: Path, f: RemoteFile, dest: Path) -> Path:
    src = next((p for p in (src_dir / f.path, src_dir / Path(f.path).name) if p.is_file()), None)
    if src is None:
        raise ModelError(f"has no {f.path} (nor {Path(f.path).name}) for this model", src_dir)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, part)
    if f.size is not None and part.stat().st_size != f.size:
        part.unlink()
        raise ModelError(f"is {src.stat().st_size} bytes, the registry says {f.size}", src)
    if f.sha256 is not None and _hash_of(part) != f.sha256:
        part.unlink()
        raise ModelError("sha256 differs from the registry's: not the registered file", src)
    os.replace(part, dest)
    return dest


def install_model(name: str, *, from_dir: Path | None = None, unpinned: bool = False, store: Path | None = None,
                  progress: Progress | None = None, cancel: threading.Event | None = None,
                  log: Callable[[str], None] = lambda _m: None, registry: Path | None = None, **fetch_options) -> Path:
    """Install registry model ``name`` (module docstring); returns its folder in the store."""
    entry = catalog_entry(name, registry)
    if entry.install == "shipped":
        from radfound.registry.store import resolve_model

        return resolve_model(name)
    if entry.install == "build":
        from radfound.assembly.build import build_model

        return build_model(name, store=store, search=from_dir, download=from_dir is None, progress=progress,
                           cancel=cancel, log=log)
    if not entry.pinned and not unpinned:
        raise ModelError(f"{name}'s files are not pinned by sha256 in the registry yet: install it with --unpinned "
                         "to trust the files as downloaded (their hashes are then recorded in its manifest)")
    store = Path(store) if store is not None else models_store_dir()
    store.mkdir(parents=True, exist_ok=True)
    target = store / name
    with StoreLock(store / f".{name}.lock"):
        if (target / MANIFEST_NAME).is_file():
            verify_model_dir(target, check_hashes=False)
            log(f"{name} is already installed: {target}")
            return target
        staging = store / f".{name}.partial"
        staging.mkdir(exist_ok=True)
        check_space(store, _still_needed(staging, entry))
        for f in entry.files:
            dest = staging / f.path
            if _done(dest, f):
                continue
            try:
                if from_dir is not None:
                    _copy_local(Path(from_dir), f, dest)
                else:
                    fetch(list(f.urls), dest, f.sha256, f.size, progress=progress, cancel=cancel, **fetch_options)
            except OSError as exc:  # a full disk mid-download, a read-only store
                raise ModelError(f"cannot be written ({exc.strerror or exc}); the partial file is kept for the next "
                                 "try", dest) from None
        write_manifest(staging, name=name, family=entry.family, model_version=entry.version, licence=entry.licence,
                       source=f"registry: {entry.files[0].urls[0].rsplit('/', 1)[0] if entry.files else name}",
                       pinned=entry.pinned)
        verify_model_dir(staging, check_hashes=False)
        os.replace(staging, target)
    log(f"installed {name} into {target}")
    return target
