"""Export of community vision-language families (transformers -> onnx-community folder layout).

Imports torch and transformers: used to build test models and to convert weights,
never by the runtime path. ``export_community(model, tokenizer, outdir)`` picks the
family from ``model.config.model_type``.
"""

from __future__ import annotations

from pathlib import Path


def export_community(model, tokenizer, outdir: str | Path, **kwargs) -> Path:
    """Export a transformers Gemma 3 or Idefics3/SmolVLM model into ``outdir`` (community layout)."""
    model_type = model.config.model_type
    if model_type == "gemma3":
        from radfound.export.families.gemma3 import export_gemma3 as export
    elif model_type in ("idefics3", "smolvlm"):
        from radfound.export.families.idefics3 import export_idefics3 as export
    else:
        from radfound.errors import ModelError

        raise ModelError(f"no community exporter for model_type {model_type!r} (supported: gemma3, idefics3, smolvlm)")
    return export(model, tokenizer, outdir, **kwargs)
