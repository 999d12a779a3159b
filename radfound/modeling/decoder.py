"""LLaMA-style causal decoder: RMSNorm, rotary positions (rotate-half form), SwiGLU, grouped-query attention.

The forward signature is the ONNX ``decoder_model_merged`` contract: it takes
``inputs_embeds`` (so visual tokens can be spliced in), the full ``attention_mask``
(past + new), ``position_ids`` and a (possibly length-0) KV cache, and returns the
logits and the grown cache. Query head ``h`` reads KV head ``h // (heads / kv_heads)``,
the grouping ORT's ``GroupQueryAttention`` uses, so the fast hand-built graph
(``radfound.export.gqa_decoder``) computes the same function.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from radfound.modeling.configs import TextConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotary_cos_sin(position_ids: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin of shape (B, 1, T, head_dim) for the rotate-half rotary embedding."""
    steps = torch.arange(0, head_dim, 2, dtype=torch.float32, device=position_ids.device)
    inv_freq = 1.0 / (theta ** (steps / head_dim))
    freqs = position_ids.to(torch.float32).unsqueeze(-1) * inv_freq  # (B, T, hd/2)
    emb = torch.cat([freqs, freqs], dim=-1).unsqueeze(1)
    return emb.cos(), emb.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)  # fp16 weights stay fp16


class SelfAttention(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.h, self.kv, self.hd = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        d = cfg.hidden_size
        self.q_proj = nn.Linear(d, self.h * self.hd, bias=False)
        self.k_proj = nn.Linear(d, self.kv * self.hd, bias=False)
        self.v_proj = nn.Linear(d, self.kv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.h * self.hd, d, bias=False)

    def forward(self, x, cos, sin, mask, past_k, past_v):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        k = torch.cat([past_k, k], dim=2)
        v = torch.cat([past_v, v], dim=2)
        rep = self.h // self.kv
        s = k.shape[2]
        kk = k.unsqueeze(2).expand(b, self.kv, rep, s, self.hd).reshape(b, self.h, s, self.hd)
        vv = v.unsqueeze(2).expand(b, self.kv, rep, s, self.hd).reshape(b, self.h, s, self.hd)
        att = torch.softmax((q @ kk.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd)) + mask, dim=-1).to(vv.dtype)
        out = (att @ vv).transpose(1, 2).reshape(b, t, self.h * self.hd)
        return self.o_proj(out), k, v


class SwiGLU(nn.Module):
    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.gate_proj = nn.Linear(d, hidden, bias=False)
        self.up_proj = nn.Linear(d, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.input_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.attn = SelfAttention(cfg)
        self.post_attention_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.intermediate_size)
        self.drop = nn.Dropout(cfg.dropout)  # identity in eval mode, so export and inference never see it

    def forward(self, x, cos, sin, mask, past_k, past_v):
        a, k, v = self.attn(self.input_norm(x), cos, sin, mask, past_k, past_v)
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.post_attention_norm(x))), k, v


def causal_mask(attention_mask: torch.Tensor, new_len: int) -> torch.Tensor:
    """Additive mask (B, 1, T, S): new token i (absolute index S-T+i) sees keys j <= S-T+i that are not padding."""
    s = attention_mask.shape[1]
    keys = torch.arange(s, device=attention_mask.device)
    queries = torch.arange(new_len, device=attention_mask.device) + (s - new_len)
    allowed = (keys.unsqueeze(0) <= queries.unsqueeze(1)).unsqueeze(0).unsqueeze(0)
    allowed = allowed & (attention_mask[:, None, None, :] > 0)
    zero = torch.zeros((), dtype=torch.float32)
    return torch.where(allowed, zero, torch.full((), torch.finfo(torch.float32).min))


class Decoder(nn.Module):
    """inputs_embeds (B,T,d), attention_mask (B,S), position_ids (B,T), past [(k,v)]*L -> logits, presents."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def forward(self, inputs_embeds, attention_mask, position_ids, past):
        hidden, presents = self.hidden(inputs_embeds, attention_mask, position_ids, past)
        return self.lm_head(hidden), presents

    def hidden(self, inputs_embeds, attention_mask, position_ids, past, mask: torch.Tensor | None = None):
        """The final-norm hidden states (B, T, d) and the presents: training takes the head at the target
        positions only (with a 49k vocabulary the head over every position costs a fifth of a step).
        ``mask``: an additive (B, 1, T, S) attention mask used instead of the causal one (packed training
        sequences, radfound.training.packing)."""
        cos, sin = rotary_cos_sin(position_ids, self.cfg.head_dim, self.cfg.rope_theta)
        if mask is None:
            mask = causal_mask(attention_mask, inputs_embeds.shape[1])
        x, presents = inputs_embeds, []
        for layer, (pk, pv) in zip(self.layers, past):
            x, k, v = layer(x, cos, sin, mask, pk, pv)
            presents.append((k, v))
        return self.norm(x), presents

    def empty_cache(self, batch: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
        shape = (batch, self.cfg.num_kv_heads, 0, self.cfg.head_dim)
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in self.layers]
