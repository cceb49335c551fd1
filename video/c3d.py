"""C3D (Tran et al. 2015, the Sports-1M network) with the module names of the common PyTorch port.

The port is https://github.com/DavideA/c3d-pytorch; its ``c3d.pickle`` state dict loads unchanged:
``conv1`` ... ``conv5b`` (3 x 3 x 3, padding 1, biased), ``fc6`` (8192 -> 4096), ``fc7`` (4096 -> 4096), ``fc8``
(4096 -> 487 Sports-1M classes).  Pooling: 1 x 2 x 2 after conv1, 2 x 2 x 2 after conv2, conv3b, conv4b and
conv5b (the last padded by 1 spatially), so a 16 x 112 x 112 input reaches fc6 as 512 x 1 x 4 x 4 = 8192.

Features (:meth:`C3D.features`): fc6 after its ReLU -- the "fc6" blob of the original Caffe network, whose ReLU
runs in place -- one 4096-d row per 16-frame input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 4096
UNIT_FRAMES, INPUT_SIZE = 16, 112
SPORTS1M_CLASSES = 487
# (name, in, out, pooling after it: (kernel == stride, padding) or None)
CONVS = (
    ("conv1", 3, 64, ((1, 2, 2), (0, 0, 0))),
    ("conv2", 64, 128, ((2, 2, 2), (0, 0, 0))),
    ("conv3a", 128, 256, None),
    ("conv3b", 256, 256, ((2, 2, 2), (0, 0, 0))),
    ("conv4a", 256, 512, None),
    ("conv4b", 512, 512, ((2, 2, 2), (0, 0, 0))),
    ("conv5a", 512, 512, None),
    ("conv5b", 512, 512, ((2, 2, 2), (0, 1, 1))),
)
FC6_INPUTS = 512 * 1 * 4 * 4


class C3D(nn.Module):
    """The C3D network; ``fc8`` has ``num_classes`` outputs (487 for the Sports-1M weights)."""

    def __init__(self, num_classes: int = SPORTS1M_CLASSES) -> None:
        super().__init__()
        for name, cin, cout, _ in CONVS:
            self.add_module(name, nn.Conv3d(cin, cout, kernel_size=3, padding=1))
        self.pools = {name: pool for name, _, _, pool in CONVS if pool is not None}
        self.fc6 = nn.Linear(FC6_INPUTS, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 16, 112, 112) RGB pixels in [0, 255] -> (B, 4096) ReLU(fc6)."""
        for name, *_ in CONVS:
            x = F.relu(getattr(self, name)(x))
            if name in self.pools:
                kernel, padding = self.pools[name]
                x = F.max_pool3d(x, kernel, kernel, padding)
        return F.relu(self.fc6(x.flatten(1)))
