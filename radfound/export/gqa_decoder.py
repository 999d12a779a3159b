"""The fused GroupQueryAttention decoder graph for a torch RadFound model: its weights (LoRA merged, a tied head
resolved) handed to :func:`radfound.assembly.decoder_graph.write_gqa_decoder`, which documents the graph."""

from __future__ import annotations

from pathlib import Path

from radfound.assembly.decoder_graph import write_gqa_decoder
from radfound.modeling.model import RadFoundModel


def decoder_weights(model: RadFoundModel) -> dict:
    """The decoder's float32 weights by state-dict name, LoRA adapters merged and a tied head resolved."""
    dec = model.decoder
    out = {}
    for name, module in dec.named_modules():
        weight = getattr(module, "weight", None)
        if name and weight is not None and not name.endswith(".base"):
            out[f"{name}.weight"] = weight.detach().cpu().float().numpy()
    out["lm_head.weight"] = _head(model)
    return out


def _head(model: RadFoundModel):
    weight = getattr(model.decoder.lm_head, "weight", None)
    if weight is None:  # tied: the head is the token embedding table
        weight = model.embed_tokens.weight
    return weight.detach().cpu().float().numpy()


def build_gqa_decoder(model: RadFoundModel, path: str | Path, weights: str = "fp32",
                      fuse_residual_norms: bool = True) -> Path:
    """Write ``decoder_model_merged.onnx`` for ``model.decoder`` at ``path`` (radfound.assembly.decoder_graph)."""
    return write_gqa_decoder(model.config.text, decoder_weights(model), path, weights, fuse_residual_norms)
