"""Which models the modules offer, and one loaded model per (model, device) shared by both modules.

The list comes from the model registry (``radfound.registry.store.list_models``: the
shipped models of ``Resources/models.json`` and the user's imported ones). Loading
an ONNX model takes seconds, so a loaded model is kept and reused until the user
picks another model or device.
"""

from __future__ import annotations

import threading

from radfound.config import RESOURCES_DIR

DEVICES = ("auto", "cuda", "cpu")
_lock = threading.Lock()
_loaded: dict[tuple[str, str], object] = {}


def available_models() -> list[tuple[str, str]]:
    """(label, folder) of every installed model from the registry, the default first and marked."""
    try:
        from radfound.registry.store import list_models

        entries = [(e.name + (" (default)" if e.default else ""), e.path, e.default) for e in list_models(verify="none")]
    except ImportError:  # registry not packaged: fall back to the shipped folders
        root = RESOURCES_DIR / "models"
        entries = [(p.name, str(p), False) for p in sorted(root.iterdir()) if p.is_dir()] if root.is_dir() else []
    entries.sort(key=lambda e: not e[2])  # stable: the default first, the rest in registry order
    return [(label, path) for label, path, _ in entries]


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
