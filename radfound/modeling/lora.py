"""Low-rank adapters (LoRA, Hu et al. 2021) on the decoder's projections: ``y = W x + (alpha / r) B A x``.

The pretrained ``W`` stays frozen and is never stored by RadFound; only ``A`` (r x in) and ``B``
(out x r, zero at the start, so training starts from the pretrained function) are trained and
committed. ``radfound.assembly.adapter.merge_lora`` folds them into ``W`` with numpy when the
model is assembled, so the exported graph is an ordinary decoder with no extra matmuls.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Every projection of a decoder layer (radfound.modeling.decoder), the default LoRA targets.
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` (no bias) plus a trainable rank-``r`` update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.base = base
        base.weight.requires_grad_(False)
        self.rank, self.alpha = rank, float(alpha)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # as nn.Linear; B = 0 keeps the start exact
        self.drop = nn.Dropout(dropout)

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    @property
    def weight(self) -> torch.Tensor:
        """The merged weight (what the exported graph holds)."""
        return self.base.weight + self.scale * (self.lora_b @ self.lora_a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.drop(x) @ self.lora_a.t() @ self.lora_b.t()) * self.scale


def apply_lora(decoder: nn.Module, rank: int, alpha: float, targets=PROJECTIONS, dropout: float = 0.0) -> int:
    """Wrap every ``targets`` projection of every decoder layer in a LoRALinear; returns how many were wrapped."""
    unknown = set(targets) - set(PROJECTIONS)
    if unknown:
        raise ValueError(f"unknown LoRA target(s) {sorted(unknown)}; choose from {list(PROJECTIONS)}")
    wrapped = 0
    for layer in decoder.layers:
        for parent in (layer.attn, layer.mlp):
            for name in targets:
                child = getattr(parent, name, None)
                if isinstance(child, nn.Linear):
                    setattr(parent, name, LoRALinear(child, rank, alpha, dropout))
                    wrapped += 1
    return wrapped


def lora_state(decoder: nn.Module) -> dict[str, torch.Tensor]:
    """``layers.{i}.{attn|mlp}.{proj}.lora_a|lora_b`` of every adapted projection."""
    out = {}
    for name, module in decoder.named_modules():
        if isinstance(module, LoRALinear):
            out[f"{name}.lora_a"] = module.lora_a.detach().cpu().float()
            out[f"{name}.lora_b"] = module.lora_b.detach().cpu().float()
    return out
