"""The trained part of a decoder (``decoder_adapter.npz``) folded into pretrained weights, deterministically.

The adapter holds, per adapted projection, LoRA's ``lora_a`` (r x in) and ``lora_b`` (out x r) in float16,
``lora_scale`` (alpha / r), the trained norm weights and the embedding rows of RadFound's own tokens.
:func:`merge_lora` computes ``W + scale * B @ A`` as a sum of r outer products in float64, then rounds once
to float32: elementwise arithmetic in a fixed order, with no BLAS reduction whose order could differ between
machines, so every machine assembles the same bytes (tested by building twice).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radfound.errors import ModelError

LORA_SUFFIXES = (".lora_a", ".lora_b")


def read_adapter(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:  # never unpickle
            return {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"not a readable adapter file ({exc})", path) from None


def merge_lora(weight: np.ndarray, a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """``weight + scale * b @ a`` (float32 out), bit-reproducible on any machine."""
    if a.shape[1] != weight.shape[1] or b.shape[0] != weight.shape[0] or a.shape[0] != b.shape[1]:
        raise ValueError(f"LoRA shapes {a.shape} / {b.shape} do not fit a {weight.shape} weight")
    delta = np.zeros(weight.shape, np.float64)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    for r in range(a.shape[0]):
        delta += np.multiply.outer(b64[:, r], a64[r])
    return (weight.astype(np.float64) + float(scale) * delta).astype(np.float32)


def apply_adapter(weights: dict[str, np.ndarray], adapter: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """Pretrained decoder ``weights`` (radfound.assembly.gguf_weights names) with the adapter applied: LoRA merged,
    norms replaced, the new token rows appended to the embedding (and so to the tied head)."""
    out = dict(weights)
    scale = float(adapter["lora_scale"]) if "lora_scale" in adapter else None
    for name in sorted(adapter):
        if name.endswith(".lora_a"):
            base = name[: -len(".lora_a")] + ".weight"
            if base not in out or name[: -len(".lora_a")] + ".lora_b" not in adapter or scale is None:
                raise ModelError(f"adapter entry {name} has no matching pretrained weight, lora_b or scale", path)
            out[base] = merge_lora(out[base], adapter[name], adapter[name[: -len("a")] + "b"], scale)
        elif name.endswith("norm.weight"):
            if name not in out or out[name].shape != adapter[name].shape:
                raise ModelError(f"adapter entry {name} does not match the pretrained decoder", path)
            out[name] = adapter[name].astype(np.float32)
    if "embed_tokens.extra" in adapter:
        extra = adapter["embed_tokens.extra"].astype(np.float32)
        table = np.concatenate([out["embed_tokens.weight"], extra])
        out["embed_tokens.weight"] = table
        out["lm_head.weight"] = table
    return out
