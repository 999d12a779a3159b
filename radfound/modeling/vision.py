"""Study encoder: ViT patch features per image, an inter-image context module, and a resampler to K tokens.

Following the RadFound design, scaled down:

1. a ViT runs on every image of the study and keeps its local patch features (its tokens come from
   one linear patch projection, from a small convolutional stem: ``stem = "conv"``, or from the
   ImageNet-pretrained EfficientNet-Lite0's stride-32 grid: ``stem = "efficientnet_lite0"``, radfound-base);
2. each image gets a summary token (the mean of its patch tokens, plus a projection of their max
   with ``summary_pool = "mean_max"``, so a small local finding is not averaged away) and a view embedding (PA/AP/LAT, the four mammogram views, AXIAL)
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

    def __init__(self, dim: int, heads: int, hidden: int, eps: float, cross: bool = False, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm_ctx = nn.LayerNorm(dim, eps=eps) if cross else None
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, hidden)
        self.drop = nn.Dropout(dropout)  # residual dropout, training only

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        ctx = self.norm_ctx(context) if self.norm_ctx is not None else None
        x = x + self.drop(self.attn(self.norm1(x), ctx))
        return x + self.drop(self.mlp(self.norm2(x)))


class ConvStem(nn.Sequential):
    """Early convolutions instead of the single patch projection (Xiao et al., 2021, "Early convolutions
    help transformers see better"): stride-2 3x3 convolutions down to patch_size/2, then a 2x2 stride-2
    projection to the token width, so the tokens are still one per patch. Local texture detectors
    (a calcification cluster, a hypodense nodule a few pixels wide) learn far faster from little data
    than a linear 16x16 projection does."""

    def __init__(self, channels: int, dim: int, patch_size: int):
        if patch_size < 4 or patch_size & (patch_size - 1):
            raise ValueError(f"the conv stem needs a power-of-two patch_size >= 4, got {patch_size}")
        halvings = patch_size.bit_length() - 2  # 16 -> 3 convs (to /8), then the 2x2 projection
        widths = [max(dim // 2 ** (halvings - i), 8) for i in range(halvings)]
        layers: list[nn.Module] = []
        c = channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, 2, 1), nn.GELU()]
            c = w
        layers.append(nn.Conv2d(c, dim, 2, 2))
        super().__init__(*layers)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """He-style init so the signal survives several small-fan-in convolutions (0.02 would vanish)."""
        for m in self:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)


class EfficientNetPatches(nn.Module):
    """EfficientNet-Lite0's local features as patch tokens: (N, C, S, S) -> (N, d, S/32, S/32).

    Its batch norms always use their ImageNet running statistics (a study is 1-16 images: batch statistics
    would be noise); their scale and shift still learn. Training may cache :meth:`trunk` (the frozen first
    ``trunk_blocks`` blocks) once per image and run only :meth:`from_trunk`; both paths compute the same."""

    def __init__(self, channels: int, dim: int, trunk_blocks: int):
        super().__init__()
        from radfound.modeling.efficientnet import HEAD_CHANNELS, EfficientNetLite0

        self.net = EfficientNetLite0(channels)
        self.trunk_blocks = trunk_blocks
        self.proj = nn.Conv2d(HEAD_CHANNELS, dim, 1)

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def trunk(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.net.trunk(pixel_values, self.trunk_blocks)

    def from_trunk(self, trunk: torch.Tensor) -> torch.Tensor:
        return self.proj(self.net.rest(trunk, self.trunk_blocks))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.from_trunk(self.trunk(pixel_values))


class StudyEncoder(nn.Module):
    """(pixel_values (N,1,S,S), view_ids (N,), positions (N,)) -> image_features (K, text_hidden)."""

    def __init__(self, cfg: VisionConfig, text_hidden: int):
        super().__init__()
        d, eps, p = cfg.hidden_size, cfg.layer_norm_eps, cfg.dropout
        self.cfg = cfg
        if cfg.stem == "conv":
            self.patch_embed = ConvStem(cfg.num_channels, d, cfg.patch_size)
        elif cfg.stem == "patch":
            self.patch_embed = nn.Conv2d(cfg.num_channels, d, cfg.patch_size, cfg.patch_size)
        elif cfg.stem == "efficientnet_lite0":
            if cfg.patch_size != 32:
                raise ValueError(f"the EfficientNet-Lite0 stem has a stride of 32: patch_size must be 32, not "
                                 f"{cfg.patch_size}")
            self.patch_embed = EfficientNetPatches(cfg.num_channels, d, cfg.trunk_blocks)
        else:
            raise ValueError(f"vision stem must be 'patch', 'conv' or 'efficientnet_lite0', got {cfg.stem!r}")
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches, d))
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.intermediate_size, eps, dropout=p) for _ in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(d, eps=eps)
        if cfg.summary_pool not in ("mean", "mean_max"):
            raise ValueError(f"summary_pool must be 'mean' or 'mean_max', got {cfg.summary_pool!r}")
        # max over patches: a finding a few patches wide reaches the image's summary undiluted
        self.max_proj = nn.Linear(d, d) if cfg.summary_pool == "mean_max" else None
        self.view_embed = nn.Embedding(cfg.num_views, d)
        self.position_embed = nn.Embedding(cfg.max_positions, d)
        self.context = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.intermediate_size, eps, dropout=p) for _ in range(cfg.context_layers)
        )
        self.queries = nn.Parameter(torch.zeros(1, cfg.num_image_tokens, d))
        self.resampler = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.intermediate_size, eps, cross=True, dropout=p)
            for _ in range(cfg.resampler_layers)
        )
        self.out_norm = nn.LayerNorm(d, eps=eps)
        self.proj = nn.Linear(d, text_hidden)

    def forward(self, pixel_values: torch.Tensor, view_ids: torch.Tensor, positions: torch.Tensor,
                return_patches: bool = False, trunk: torch.Tensor | None = None):
        """The study's K visual tokens; with ``return_patches`` also the per-image patch tokens (N, L, d),
        which training supervises directly (radfound.training.concepts); the exported graph returns tokens only.
        ``trunk``: the EfficientNet stem's cached :meth:`EfficientNetPatches.trunk` of the images, used instead of
        ``pixel_values`` (training only)."""
        grid = self.patch_embed(pixel_values) if trunk is None else self.patch_embed.from_trunk(trunk)
        x = grid.flatten(2).transpose(1, 2) + self.pos_embed  # (N, L, d)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        patches = x
        study = self.view_embed(view_ids) + self.position_embed(positions.clamp(0, self.cfg.max_positions - 1))
        pooled = x.mean(dim=1)
        if self.max_proj is not None:
            pooled = pooled + self.max_proj(x.amax(dim=1))
        summary = (pooled + study).unsqueeze(0)  # (1, N, d): one token per image
        for blk in self.context:
            summary = blk(summary)
        x = x + (summary[0] + study).unsqueeze(1)  # every patch knows its view and the other views
        memory = x.reshape(1, -1, x.shape[-1])  # (1, N*L, d)
        q = self.queries
        for blk in self.resampler:
            q = blk(q, memory)
        tokens = self.proj(self.out_norm(q))[0]  # (K, text_hidden)
        return (tokens, patches) if return_patches else tokens
