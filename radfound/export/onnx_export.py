"""torch -> ONNX export of a RadFound model into the onnx-community vision-language folder layout.

::

    OUTDIR/
      onnx/vision_encoder.onnx        pixel_values (N,1,S,S) f32, view_ids (N,) i64, positions (N,) i64
                                      -> image_features (K, d)
      onnx/embed_tokens.onnx          input_ids (B,T) i64 -> inputs_embeds (B,T,d)
      onnx/decoder_model_merged.onnx  inputs_embeds, attention_mask (B,S) i64, position_ids (B,T) i64,
                                      past_key_values.{i}.key|value (B,kv,P,hd) -> logits (B,T,V),
                                      present.{i}.key|value (B,kv,P+T,hd); the first step has P = 0
      onnx/*_fp16.onnx, onnx/*_quantized.onnx   optional precision variants (fp32 inputs/outputs kept)
      config.json  generation_config.json  preprocessor_config.json  tokenizer.json  manifest.json

The folder is written to a temporary sibling and renamed into place, so a failed
export never leaves a half-written model behind.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import torch
from tokenizers import Tokenizer

from radfound.assembly.decoder_graph import EXTERNAL_DATA_BYTES, OPSET  # noqa: F401 (defined once, used here)
from radfound.errors import ModelError
from radfound.outputs.atomic import atomic_folder
from radfound.modeling.model import RadFoundModel
from radfound.registry.manifest import write_manifest
from radfound.tasks.prompts import SPECIAL_TOKENS

DEFAULT_GENERATION = {
    "max_new_tokens": 256,
    "do_sample": False,
    "num_beams": 1,
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
}


class _VisionGraph(torch.nn.Module):
    def __init__(self, model: RadFoundModel):
        super().__init__()
        self.vision = model.vision

    def forward(self, pixel_values, view_ids, positions):
        return self.vision(pixel_values, view_ids, positions)


class _EmbedGraph(torch.nn.Module):
    def __init__(self, model: RadFoundModel):
        super().__init__()
        self.embed = model.embed_tokens

    def forward(self, input_ids):
        return self.embed(input_ids)


class _DecoderGraph(torch.nn.Module):
    """Flattens the cache into the community input/output names."""

    def __init__(self, model: RadFoundModel):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, inputs_embeds, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(len(past_flat) // 2)]
        logits, presents = self.decoder(inputs_embeds, attention_mask, position_ids, past)
        return (logits, *[t for kv in presents for t in kv])


def cache_names(num_layers: int, prefix: str) -> list[str]:
    return [f"{prefix}.{i}.{kind}" for i in range(num_layers) for kind in ("key", "value")]


def _export(module, args, path: Path, input_names, output_names, dynamic_axes) -> None:
    """torch.onnx (legacy exporter) into a private folder, then into place: inline, or with
    ``<name>.onnx_data`` beside it when the weights are too large for one protobuf."""
    import onnx

    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        traced = Path(scratch) / path.name
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings and the legacy-exporter deprecation notice
            torch.onnx.export(
                module, args, str(traced), dynamo=False, opset_version=OPSET, input_names=input_names,
                output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True,
            )
        weights = sum(f.stat().st_size for f in Path(scratch).iterdir())
        if weights < EXTERNAL_DATA_BYTES and len(list(Path(scratch).iterdir())) == 1:
            traced.replace(path)
            return
        proto = onnx.load(str(traced))  # also gathers the per-tensor files large exports scatter
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + "_data", size_threshold=1024)


def export_vision(model: RadFoundModel, path: Path) -> None:
    v = model.config.vision
    args = (torch.randn(2, v.num_channels, v.image_size, v.image_size), torch.tensor([1, 3]), torch.tensor([0, 1]))
    _export(_VisionGraph(model), args, path, ["pixel_values", "view_ids", "positions"], ["image_features"],
            {"pixel_values": {0: "num_images"}, "view_ids": {0: "num_images"}, "positions": {0: "num_images"}})


def export_embed(model: RadFoundModel, path: Path) -> None:
    _export(_EmbedGraph(model), (torch.tensor([[1, 2, 3]]),), path, ["input_ids"], ["inputs_embeds"],
            {"input_ids": {0: "batch", 1: "sequence"}, "inputs_embeds": {0: "batch", 1: "sequence"}})


def export_decoder_reference(model: RadFoundModel, path: Path) -> None:
    """The decoder as traced by ``torch.onnx`` (portable; the engine's fallback and the parity baseline)."""
    t = model.config.text
    past_len, new_len, batch = 2, 3, 1
    past = [torch.randn(batch, t.num_kv_heads, past_len, t.head_dim) for _ in range(2 * t.num_layers)]
    args = (
        torch.randn(batch, new_len, t.hidden_size),
        torch.ones(batch, past_len + new_len, dtype=torch.int64),
        torch.arange(past_len, past_len + new_len).unsqueeze(0),
        *past,
    )
    past_names = cache_names(t.num_layers, "past_key_values")
    present_names = cache_names(t.num_layers, "present")
    axes = {
        "inputs_embeds": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "total_sequence"},
        "position_ids": {0: "batch", 1: "sequence"},
        "logits": {0: "batch", 1: "sequence"},
        **{n: {0: "batch", 2: "past_sequence"} for n in past_names},
        **{n: {0: "batch", 2: "total_sequence"} for n in present_names},
    }
    _export(_DecoderGraph(model), args, path, ["inputs_embeds", "attention_mask", "position_ids", *past_names],
            ["logits", *present_names], axes)


def model_config_json(model: RadFoundModel, tokenizer: Tokenizer) -> dict:
    cfg = model.config.to_dict()
    ids = {name: tokenizer.token_to_id(name) for name in SPECIAL_TOKENS}
    cfg.update({
        "architectures": ["RadFoundForConditionalGeneration"],
        "image_token_id": int(model.image_token_id),
        "num_image_tokens": model.config.vision.num_image_tokens,
        "bos_token_id": ids["<bos>"],
        "eos_token_id": ids["<eos>"],
        "pad_token_id": ids["<pad>"],
        "special_tokens": ids,
    })
    return cfg


def preprocessor_config_json(model: RadFoundModel, override: dict | None) -> dict:
    """The study engineer's PreprocessConfig defaults, with this model's input size, then any override."""
    v = model.config.vision
    base: dict = {}
    try:
        from radfound.preprocess import PreprocessConfig  # owned by the study/preprocess area
    except ImportError:
        PreprocessConfig = None  # noqa: N806
    if PreprocessConfig is not None:
        base = PreprocessConfig().to_dict()
    base.update({"image_size": v.image_size})
    if override:
        base.update(override)
    return base


def export_model(model: RadFoundModel, tokenizer: Tokenizer, outdir: str | Path, *,
                 fp16: bool = False, int8: bool = False, keep_fp32: bool = True, fast_decoder: bool = True,
                 preprocessor_config: dict | None = None, generation_config: dict | None = None,
                 meta: dict | None = None, overwrite: bool = False) -> Path:
    """Write the complete model folder at ``outdir`` (see the module docstring); returns it.

    ``keep_fp32=False`` ships only the fp16/int8 vision and decoder graphs (size budget of a shipped model).
    """
    outdir = Path(outdir)
    if outdir.exists() and not overwrite and any(outdir.iterdir()):
        raise ModelError("output folder exists and is not empty (pass overwrite=True / --force)", outdir)
    meta = dict(meta or {})
    with atomic_folder(outdir) as tmp:
        onnx_dir = tmp / "onnx"
        onnx_dir.mkdir()
        model = model.eval().float()
        export_vision(model, onnx_dir / "vision_encoder.onnx")
        export_embed(model, onnx_dir / "embed_tokens.onnx")
        decoder_path = onnx_dir / "decoder_model_merged.onnx"
        if fast_decoder:
            from radfound.export.gqa_decoder import build_gqa_decoder

            build_gqa_decoder(model, decoder_path)
        else:
            export_decoder_reference(model, decoder_path)
        if fp16:
            from radfound.export.variants import to_fp16

            for name in ("vision_encoder", "decoder_model_merged"):
                to_fp16(onnx_dir / f"{name}.onnx", onnx_dir / f"{name}_fp16.onnx")
        if int8:
            from radfound.export.variants import to_int8

            to_int8(onnx_dir / "vision_encoder.onnx", onnx_dir / "vision_encoder_quantized.onnx")
            if fast_decoder:  # weight-only 8-bit blocks: fast single-token decode on CPU
                from radfound.export.gqa_decoder import build_gqa_decoder

                build_gqa_decoder(model, onnx_dir / "decoder_model_merged_quantized.onnx", weights="int8")
            else:
                to_int8(decoder_path, onnx_dir / "decoder_model_merged_quantized.onnx")
        if not keep_fp32:
            if not (fp16 or int8):
                raise ModelError("keep_fp32=False needs an fp16 or int8 variant to ship instead")
            for name in ("vision_encoder", "decoder_model_merged"):
                for f in onnx_dir.glob(f"{name}.onnx*"):
                    f.unlink()
        config = model_config_json(model, tokenizer)
        generation = {**DEFAULT_GENERATION, "bos_token_id": config["bos_token_id"],
                      "eos_token_id": config["eos_token_id"], "pad_token_id": config["pad_token_id"],
                      **(generation_config or {})}
        _write_json(tmp / "config.json", config)
        _write_json(tmp / "generation_config.json", generation)
        _write_json(tmp / "preprocessor_config.json", preprocessor_config_json(model, preprocessor_config))
        tokenizer.save(str(tmp / "tokenizer.json"))
        write_manifest(
            tmp,
            name=meta.pop("name", model.config.name),
            family="radfound",
            model_version=meta.pop("model_version", "0.0.0-untrained"),
            licence=meta.pop("licence", "Apache-2.0"),
            provenance=meta.pop("provenance", {"training_data": "none: random initialisation"}),
            **meta,
        )
    return outdir


def export_checkpoint(checkpoint: str | Path, outdir: str | Path, *, average_with=(), **kwargs) -> Path:
    """``radfound export``: load a training checkpoint (weights-only) and export it.

    With ``average_with``, the exported weights are the uniform mean of ``checkpoint`` and those.
    """
    from radfound.modeling.checkpoint import average_checkpoints, load_checkpoint

    if average_with:
        model, tok, payload = average_checkpoints([checkpoint, *average_with])
    else:
        model, tok, payload = load_checkpoint(checkpoint)
    kwargs.setdefault("preprocessor_config", payload.get("preprocessor_config"))
    kwargs.setdefault("generation_config", payload.get("generation_config"))
    kwargs["meta"] = {**(payload.get("meta") or {}), **(kwargs.get("meta") or {})}  # the caller's entries win
    return export_model(model, tok, outdir, **kwargs)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
