"""Graph wrappers and the folder writer shared by the community-family exporters.

The decoder is exported with the community I/O names (``inputs_embeds``,
``attention_mask``, ``position_ids``, ``past_key_values.{i}.key|value`` ->
``logits``, ``present.{i}.key|value``). The wrapper builds the 4D additive attention
mask itself from the 2D ``attention_mask`` (causal, plus the sliding window on the
layers that use one), so the traced graph has no shape-specialised mask code and the
first step runs with a length-0 cache.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from transformers import DynamicCache

from radfound.errors import ModelError
from radfound.registry.manifest import write_manifest

OPSET = 17
#: Graphs at least this large keep their weights in ``<graph>.onnx_data`` (protobuf's limit is 2 GB).
EXTERNAL_DATA_BYTES = 1_800_000_000


def cache_names(num_layers: int, prefix: str) -> list[str]:
    return [f"{prefix}.{i}.{kind}" for i in range(num_layers) for kind in ("key", "value")]


def image_block_ids(token_type_ids, past_key):
    """(B, T) and (B, P+T) block ids: the n-th image's tokens get n, every other token -1.

    Keys already in the cache get -1 (images are only ever in the prompt, the first step).
    """
    is_image = token_type_ids == 1
    previous = torch.cat([torch.zeros_like(is_image[:, :1]), is_image[:, :-1]], dim=1)
    group = torch.cumsum((is_image & ~previous).long(), dim=1) - 1
    query_block = torch.where(is_image, group, torch.full_like(group, -1))
    cached = torch.full_like(past_key[:, 0, :, 0], -1, dtype=torch.long)  # (B, P), P taken from the cache
    return query_block, torch.cat([cached, query_block], dim=1)


def additive_mask(attention_mask, position_ids, dtype, sliding_window: int | None = None, blocks=None):
    """(B, 1, T, P+T) float mask: 0 where a query may attend, the dtype's minimum elsewhere.

    Causal, or (with ``blocks``) also bidirectional inside one image, as transformers' Gemma 3
    does with ``token_type_ids``; then limited to the sliding window, then to real tokens.
    """
    key_pos = torch.cumsum(torch.ones_like(attention_mask), dim=-1) - 1  # absolute index of each key
    query_pos = position_ids  # absolute index of each query (no left padding in single-study batches)
    allowed = key_pos[:, None, None, :] <= query_pos[:, None, :, None]
    if blocks is not None:
        query_block, key_block = blocks
        same = (query_block[:, :, None] == key_block[:, None, :]) & (query_block[:, :, None] >= 0)
        allowed = allowed | same[:, None]
    if sliding_window is not None:
        allowed = allowed & (key_pos[:, None, None, :] > query_pos[:, None, :, None] - sliding_window)
    allowed = allowed & attention_mask[:, None, None, :].bool()
    zero = torch.zeros((), dtype=dtype)
    return torch.where(allowed, zero, torch.full((), torch.finfo(dtype).min, dtype=dtype))


class DecoderGraph(torch.nn.Module):
    """A transformers text model + LM head with the cache flattened into community names.

    With ``image_blocks`` the graph takes one more input, ``token_type_ids`` (B, T), 1 on image
    tokens: the tokens of one image then attend to each other in both directions (Gemma 3).
    """

    def __init__(self, text_model, lm_head, num_layers: int, *, sliding_window: int | None = None,
                 mask_by_layer_type: bool = False, softcap: float | None = None, image_blocks: bool = False):
        super().__init__()
        self.text_model, self.lm_head = text_model, lm_head
        self.num_layers, self.sliding_window = num_layers, sliding_window
        self.mask_by_layer_type, self.softcap, self.image_blocks = mask_by_layer_type, softcap, image_blocks

    def forward(self, inputs_embeds, attention_mask, position_ids, *rest):
        past = rest[1:] if self.image_blocks else rest
        blocks = image_block_ids(rest[0], past[0]) if self.image_blocks else None
        cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(self.num_layers)])
        full = additive_mask(attention_mask, position_ids, inputs_embeds.dtype, blocks=blocks)
        mask = full
        if self.mask_by_layer_type:
            sliding = additive_mask(attention_mask, position_ids, inputs_embeds.dtype, self.sliding_window, blocks)
            mask = {"full_attention": full, "sliding_attention": sliding}
        out = self.text_model(inputs_embeds=inputs_embeds, attention_mask=mask, position_ids=position_ids,
                              past_key_values=cache, use_cache=True, return_dict=True)
        logits = self.lm_head(out.last_hidden_state)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        presents = [t for layer in cache.layers for t in (layer.keys, layer.values)]
        return (logits, *presents)


class EmbedGraph(torch.nn.Module):
    def __init__(self, embed):
        super().__init__()
        self.embed = embed

    def forward(self, input_ids):
        return self.embed(input_ids)


def export_graph(module, args, path: Path, input_names, output_names, dynamic_axes) -> None:
    """torch.onnx.export into ``path``; graphs over 2 GB (or with scattered tensors) get one ``.onnx_data`` file."""
    import onnx

    with tempfile.TemporaryDirectory(prefix=".export-", dir=path.parent) as work:
        traced = Path(work) / path.name
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings and the legacy-exporter deprecation notice
            torch.onnx.export(module, args, str(traced), dynamo=False, opset_version=OPSET,
                              input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                              do_constant_folding=True)
        scattered = [p for p in Path(work).iterdir() if p != traced]
        if scattered or traced.stat().st_size >= EXTERNAL_DATA_BYTES:
            proto = onnx.load(str(traced))  # reads the scattered tensors back
            onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=path.name + "_data", size_threshold=1024)
        else:
            os.replace(traced, path)


def export_embed(embed, path: Path) -> None:
    export_graph(EmbedGraph(embed), (torch.tensor([[1, 2, 3]]),), path, ["input_ids"], ["inputs_embeds"],
                 {"input_ids": {0: "batch", 1: "sequence"}, "inputs_embeds": {0: "batch", 1: "sequence"}})


def export_decoder(graph: DecoderGraph, text_config, path: Path) -> None:
    layers = graph.num_layers
    kv, hd = text_config.num_key_value_heads, getattr(text_config, "head_dim", None) or (
        text_config.hidden_size // text_config.num_attention_heads)
    past_len, new_len = 2, 3
    past = [torch.randn(1, kv, past_len, hd) for _ in range(2 * layers)]
    extra, extra_names, extra_axes = (), [], {}
    if graph.image_blocks:
        extra, extra_names = (torch.tensor([[0, 1, 1]]),), ["token_type_ids"]
        extra_axes = {"token_type_ids": {0: "batch", 1: "sequence"}}
    args = (torch.randn(1, new_len, text_config.hidden_size), torch.ones(1, past_len + new_len, dtype=torch.int64),
            torch.arange(past_len, past_len + new_len).unsqueeze(0), *extra, *past)
    past_names, present_names = cache_names(layers, "past_key_values"), cache_names(layers, "present")
    axes = {
        "inputs_embeds": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "total_sequence"},
        "position_ids": {0: "batch", 1: "sequence"},
        "logits": {0: "batch", 1: "sequence"},
        **extra_axes,
        **{n: {0: "batch", 2: "past_sequence"} for n in past_names},
        **{n: {0: "batch", 2: "total_sequence"} for n in present_names},
    }
    export_graph(graph, args, path, ["inputs_embeds", "attention_mask", "position_ids", *extra_names, *past_names],
                 ["logits", *present_names], axes)


def processor_dict(image_processor) -> dict:
    """An image processor's settings (a transformers image processor or an already read dict)."""
    return dict(image_processor) if isinstance(image_processor, dict) else image_processor.to_dict()


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_folder(outdir: str | Path, build, *, name: str, family: str, licence: str, source: str) -> Path:
    """Run ``build(tmp)`` in a temporary sibling, write the manifest, then rename it to ``outdir``."""
    outdir = Path(outdir)
    if outdir.exists() and any(outdir.iterdir()):
        raise ModelError("output folder exists and is not empty", outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is meant to be shared
    try:
        (tmp / "onnx").mkdir()
        build(tmp)
        write_manifest(tmp, name=name, family=family, model_version="0", licence=licence, source=source)
        if outdir.exists():
            outdir.rmdir()
        tmp.rename(outdir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return outdir
