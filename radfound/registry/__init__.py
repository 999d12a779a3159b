"""Model registry: manifests with sha256 integrity, the shipped index and the per-user store."""

from radfound.registry.manifest import read_manifest, sha256_file, verify_model_dir, write_manifest
from radfound.registry.store import (
    ModelEntry,
    family_of,
    import_model,
    list_models,
    model_choices,
    remove_model,
    resolve_model,
    verify_model,
)

__all__ = [
    "ModelEntry",
    "family_of",
    "import_model",
    "list_models",
    "model_choices",
    "read_manifest",
    "remove_model",
    "resolve_model",
    "sha256_file",
    "verify_model",
    "verify_model_dir",
    "write_manifest",
]
