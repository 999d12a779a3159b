"""Initialise a radfound-base model (``smollm2`` preset) from the pinned pretrained files (training only).

- decoder: every SmolLM2-135M-Instruct weight from its GGUF (radfound.assembly.gguf_weights), the embedding's
  first 49,152 rows, the tied head; the rows of RadFound's special tokens start from related pretrained rows
  (``<eos>`` from ``<|im_end|>``, ``<|user|>`` and ``<bos>`` from ``<|im_start|>``...), so the decoder knows
  where a turn ends from the first step;
- vision stem: EfficientNet-Lite0's ImageNet weights (radfound.modeling.efficientnet.load_imagenet).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from radfound.assembly.gguf_weights import read_decoder
from radfound.assembly.packages import locate
from radfound.assembly.pins import PINS
from radfound.modeling.efficientnet import load_imagenet
from radfound.modeling.model import ExtendedEmbedding, RadFoundModel
from radfound.tasks.prompts import ASSISTANT, BOS, EOS, USER

#: New token -> the pretrained token whose embedding it starts from (SmolLM2's ChatML markers).
NEW_ROW_INIT = {EOS: "<|im_end|>", BOS: "<|im_start|>", USER: "<|im_start|>", ASSISTANT: "<|im_end|>"}


def load_pretrained(model: RadFoundModel, tokenizer, *, search: Path | None = None, download: bool = True,
                    log=print) -> RadFoundModel:
    """Fill ``model`` (built from the ``smollm2`` preset) with the pinned pretrained weights, in place."""
    gguf = locate(PINS["smollm2"], search=search, download=download, log=log)
    cfg, weights = read_decoder(gguf)
    t = model.config.text
    sizes = (cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.num_kv_heads, cfg.intermediate_size)
    if sizes != (t.hidden_size, t.num_layers, t.num_heads, t.num_kv_heads, t.intermediate_size):
        raise ValueError(f"the model's text_config does not match {gguf.name}: {cfg}")
    emb = model.embed_tokens
    if not isinstance(emb, ExtendedEmbedding) or emb.pretrained.shape[0] != cfg.vocab_size:
        raise ValueError("radfound-base needs text.pretrained_vocab_size equal to the GGUF vocabulary")
    with torch.no_grad():
        table = torch.from_numpy(weights.pop("embed_tokens.weight"))
        emb.pretrained.copy_(table)
        emb.extra.zero_()
        for token, source in NEW_ROW_INIT.items():
            new, old = tokenizer.token_to_id(token), tokenizer.token_to_id(source)
            if new is not None and old is not None and new >= cfg.vocab_size:
                emb.extra[new - cfg.vocab_size].copy_(table[old])
        weights.pop("lm_head.weight", None)  # tied: the head is the embedding table
        state = {_base_name(model, k): torch.from_numpy(np.array(v)) for k, v in weights.items()}
        missing = [k for k in state if k not in dict(model.decoder.named_parameters())]
        if missing:
            raise ValueError(f"decoder has no parameter {missing[0]} for the GGUF weights")
        params = dict(model.decoder.named_parameters())
        for name, value in state.items():
            params[name].copy_(value)
    effnet = locate(PINS["efficientnet_lite0"], search=search, download=download, log=log)
    load_imagenet(model.vision.patch_embed.net, effnet)
    return model


def _base_name(model: RadFoundModel, name: str) -> str:
    """``layers.0.attn.q_proj.weight`` -> ``layers.0.attn.q_proj.base.weight`` where the projection has LoRA."""
    if model.config.text.lora_rank and name.endswith("_proj.weight"):
        return name[: -len("weight")] + "base.weight"
    return name
