"""Backbone weight files of the published layouts (random values), written once per session (the C3D file is
320 MB)."""

import pytest

from tests.video.weights import write_published_weights
from video.c3d import C3D
from video.i3d import InceptionI3D
from video.synthetic import random_network


@pytest.fixture(scope="session")
def i3d_weights(tmp_path_factory):
    """rgb_imagenet.pt's layout (400 logits, no num_batches_tracked)."""
    return write_published_weights(tmp_path_factory.mktemp("weights") / "rgb_imagenet.pt",
                                   random_network(InceptionI3D, 0))


@pytest.fixture(scope="session")
def c3d_weights(tmp_path_factory):
    """c3d.pickle's layout (487 Sports-1M classes)."""
    return write_published_weights(tmp_path_factory.mktemp("weights") / "c3d.pickle", random_network(C3D, 1))
