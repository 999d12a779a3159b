"""Community vision-language model families (onnx-community layout) for the engine.

``load_community_model(model_dir)`` verifies the manifest, reads ``config.json``'s
``model_type`` and returns a :class:`~radfound.engine.families.community.CommunityVLModel`
with the matching family adapter: Gemma 3 (MedGemma) or Idefics3/SmolVLM. No torch.
"""

from __future__ import annotations

COMMUNITY_MODEL_TYPES = ("gemma3", "idefics3", "smolvlm")


def is_community_model(config: dict) -> bool:
    """True for a config.json whose model_type a family adapter here handles."""
    return config.get("model_type") in COMMUNITY_MODEL_TYPES


def load_community_model(model_dir, device: str = "auto", precision: str = "auto", dtype: str | None = None):
    """The engine's entry point for a community folder (see community.load_community_model)."""
    from radfound.engine.families.community import load_community_model as load

    return load(model_dir, device=device, precision=precision, dtype=dtype)
