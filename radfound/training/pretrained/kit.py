"""What git keeps of a trained radfound-base: the kit (radfound.assembly.build assembles the rest).

``write_kit`` writes, atomically (a temporary sibling renamed into place):

- ``onnx/vision_encoder.onnx``: the whole trained vision encoder (EfficientNet stem, context, resampler),
  weights stored as float16 (radfound.export.variants.store_weights_fp16), computing in float32;
- ``decoder_adapter.npz``: LoRA ``lora_a`` / ``lora_b`` per projection (float16), ``lora_scale``, the trained
  norm weights and the new token rows (float32);
- ``config.json``, ``generation_config.json``, ``preprocessor_config.json``, ``tokenizer.json``, ``MODEL_CARD.md``;
- ``manifest.json`` with every file's sha256 and the ``kit`` entry: the pinned base and the decoder precision.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from radfound.export.onnx_export import (
    DEFAULT_GENERATION,
    export_vision,
    model_config_json,
    preprocessor_config_json,
)
from radfound.export.variants import store_weights_fp16
from radfound.modeling.lora import LoRALinear
from radfound.outputs.atomic import atomic_folder
from radfound.registry.manifest import write_manifest

ADAPTER = "decoder_adapter.npz"


def adapter_arrays(model) -> dict[str, np.ndarray]:
    """The decoder's trained part as arrays named like radfound.assembly.gguf_weights (see the module docstring)."""
    out: dict[str, np.ndarray] = {}
    scale = None
    for name, module in model.decoder.named_modules():
        if isinstance(module, LoRALinear):
            out[f"{name}.lora_a"] = module.lora_a.detach().cpu().numpy().astype(np.float16)
            out[f"{name}.lora_b"] = module.lora_b.detach().cpu().numpy().astype(np.float16)
            scale = module.scale
    for name, p in model.decoder.named_parameters():
        if name.endswith("norm.weight"):
            out[name] = p.detach().cpu().numpy().astype(np.float32)
    out["embed_tokens.extra"] = model.embed_tokens.extra.detach().cpu().numpy().astype(np.float32)
    if scale is not None:
        out["lora_scale"] = np.array(scale, np.float32)
    return out


def write_kit(model, tokenizer, outdir: Path, *, meta: dict, generation_config: dict, preprocessor_config: dict,
              card: str, base: str = "smollm2", decoder_precision: str = "int8") -> Path:
    with atomic_folder(outdir) as tmp:
        (tmp / "onnx").mkdir()
        model = model.eval().float()
        with torch.no_grad():
            export_vision(model, tmp / "onnx" / "vision_encoder.onnx")
        store_weights_fp16(tmp / "onnx" / "vision_encoder.onnx")
        np.savez(tmp / ADAPTER, **adapter_arrays(model))
        config = model_config_json(model, tokenizer)
        generation = {**DEFAULT_GENERATION, "bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"],
                      "pad_token_id": config["pad_token_id"], **generation_config}
        for name, data in (("config.json", config), ("generation_config.json", generation),
                           ("preprocessor_config.json", preprocessor_config_json(model, preprocessor_config))):
            (tmp / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tokenizer.save(str(tmp / "tokenizer.json"), pretty=False)
        (tmp / "MODEL_CARD.md").write_text(card, encoding="utf-8")
        meta = dict(meta)
        write_manifest(tmp, name=meta.pop("name"), family="radfound", model_version=meta.pop("model_version"),
                       licence=meta.pop("licence"), provenance=meta.pop("provenance"),
                       kit={"base": base, "adapter": ADAPTER, "decoder_precision": decoder_precision}, **meta)
    return Path(outdir)
