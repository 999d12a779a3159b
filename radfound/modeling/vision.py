"""Study encoder: ViT patch features per image, an inter-image context module, and a resampler to K tokens.

Following the RadFound design, scaled down:

1. a ViT runs on every image of the study and keeps its local patch features;
2. each image gets a view embedding (PA/AP/LAT, the four mammogram views, AXIAL)
   and a slice-position embedding (CT slices / slabs); a small transformer over
   one summary token per image lets the views see each other (e.g. left vs right
   breast symmetry, neighbouring CT slabs), and its output is added back to every
   patch token of that image;
3. ``num_image_tokens`` learned queries cross-attend over all patch tokens of all
   images (a perceiver resampler), so a 1-view CXR and a 64-slab CT both become
   the same bounded number of visual tokens for the language model.

Plain matmul/softmax attention keeps the graph exportable by ``torch.onnx``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from radfound.modeling.configs import VisionConfig


class Attention(nn.Module):
    """Bidirectional multi-head attention; cross-attention when ``context`` is given."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        ctx = x if context is None else context
        b, t, d = x.shape
        s = ctx.shape[1]
        q = self.q(x).reshape(b, t, self.heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(ctx).reshape(b, s, 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        att = torch.softmax((q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim)), dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, t, d))


class MLP(nn.Sequential):
    def __init__(self, dim: int, hidden: int):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class Block(nn.Module):
    """Pre-norm transformer block (self-attention, or cross-attention onto ``context``)."""

    def __init__(self, dim: int, heads: int, hidden: int, eps: float, cross: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm_ctx = nn.LayerNorm(dim, eps=eps) if cross else None
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, hidden)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        ctx = self.norm_ctx(context) if self.norm_ctx is not None else None
        x = x + self.attn(self.norm1(x), ctx)
        return x + self.mlp(self.norm2(x))


class StudyEncoder(nn.Module):
    """(pixel_values (N,1,S,S), view_ids (N,), positions (N,)) -> image_features (K, text_hidden)."""

    def __init__(self, cfg: VisionConfig, text_hidden: int):
        super().__init__()
        d, eps = cfg.hidden_size, cfg.layer_norm_eps
        self.cfg = cfg
        self.patch_embed = nn.Conv2d(cfg.num_channels, d, cfg.patch_size, cfg.patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches, d))
        self.blocks = nn.ModuleList(Block(d, cfg.num_heads, cfg.intermediate_size, eps) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(d, eps=eps)
        self.view_embed = nn.Embedding(cfg.num_views, d)
        self.position_embed = nn.Embedding(cfg.max_positions, d)
        self.context = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.intermediate_size, eps) for _ in range(cfg.context_layers)
        )
        self.queries = nn.Parameter(torch.zeros(1, cfg.num_image_tokens, d))
        self.resampler = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.intermediate_size, eps, cross=True) for _ in range(cfg.resampler_layers)
        )
        self.out_norm = nn.LayerNorm(d, eps=eps)
        self.proj = nn.Linear(d, text_hidden)

    def forward(self, pixel_values: torch.Tensor, view_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixel_values).flatten(2).transpose(1, 2) + self.pos_embed  # (N, L, d)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        study = self.view_embed(view_ids) + self.position_embed(positions.clamp(0, self.cfg.max_positions - 1))
        summary = (x.mean(dim=1) + study).unsqueeze(0)  # (1, N, d): one token per image
        for blk in self.context:
            summary = blk(summary)
        x = x + (summary[0] + study).unsqueeze(1)  # every patch knows its view and the other views
        memory = x.reshape(1, -1, x.shape[-1])  # (1, N*L, d)
        q = self.queries
        for blk in self.resampler:
            q = blk(q, memory)
        return self.proj(self.out_norm(q))[0]  # (K, text_hidden)
