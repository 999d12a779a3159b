"""Training-time image augmentation of a study's preprocessed pixels (N, 1, S, S) in [-1, 1].

With about a thousand real images each seen dozens of times, an unaugmented model memorises
pixels instead of learning anatomy. One random transform per study (so the views and slabs
of a study stay consistent): scale, small rotation and shift, contrast and brightness.
Never a flip: left and right are findings here. Geometric changes are skipped for grounding
rows, whose box targets are fixed pixel positions. Config ``"augment"`` in the training JSON:
``{"scale": [0.9, 1.1], "rotate_deg": 6, "translate": 0.05, "contrast": 0.15, "brightness": 0.08}``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment_study(px: torch.Tensor, cfg: dict, gen: torch.Generator, geometric: bool = True) -> torch.Tensor:
    """One random augmentation of all images of a study; the background (-1) is kept black."""

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=gen))

    out = px
    if geometric:
        s_lo, s_hi = cfg.get("scale", (1.0, 1.0))
        scale = uniform(s_lo, s_hi)
        angle = math.radians(uniform(-cfg.get("rotate_deg", 0.0), cfg.get("rotate_deg", 0.0)))
        t = cfg.get("translate", 0.0)
        tx, ty = uniform(-t, t) * 2, uniform(-t, t) * 2  # affine_grid works in [-1, 1] units
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        theta = torch.tensor([[cos, -sin, tx], [sin, cos, ty]], dtype=px.dtype, device=px.device)
        theta = theta.expand(px.shape[0], 2, 3)
        grid = F.affine_grid(theta, list(px.shape), align_corners=False)
        out = F.grid_sample(px + 1.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1.0
    c, b = cfg.get("contrast", 0.0), cfg.get("brightness", 0.0)
    if c or b:
        out = ((out + 1.0) * uniform(1 - c, 1 + c) + uniform(-b, b) * 2 - 1.0).clamp(-1.0, 1.0)
    return out
