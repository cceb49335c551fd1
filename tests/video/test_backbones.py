"""video.i3d / video.c3d / video.backbones: the published layouts (parameter counts from the papers' tables,
pytorch-i3d's and the C3D port's key names) and one clear error per wrong weights file."""

import pickle

import pytest
import torch

from tests.video.weights import write_published_weights
from video.backbones import WeightsError, build_backbone, read_state_dict
from video.c3d import C3D
from video.i3d import InceptionI3D
from video.recipes import get_recipe

# Inception-v1 (Szegedy et al. 2015, Table 1) as inflated by I3D: mixed blocks' (in, #1x1, #3x3 reduce, #3x3,
# #5x5 reduce -> here 3x3x3, #5x5, pool proj)
INCEPTION_V1_MIXED = [
    (192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64),
    (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64), (512, 128, 128, 256, 24, 64, 64),
    (512, 112, 144, 288, 32, 64, 64), (528, 256, 160, 320, 32, 128, 128),
    (832, 256, 160, 320, 32, 128, 128), (832, 384, 192, 384, 48, 128, 128),
]
I3D_KINETICS_PARAMETERS = 12_697_264  # trainable, 400 logits: 12,287,264 trunk + 410,000 logits
I3D_CHARADES_CLASSES = 157
# C3D (Tran et al. 2015, Fig. 3): 8 convs 3x3x3 of 64, 128, 256, 256, 512, 512, 512, 512; fc6, fc7 4096; 487 classes
C3D_CONVS = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
C3D_PARAMETERS = 79_991_015


def conv_bn(cin: int, cout: int, k: int) -> int:
    """A bias-free k^3 convolution and its batch norm's scale and shift."""
    return cin * cout * k**3 + 2 * cout


def i3d_parameters(classes: int) -> int:
    stem = conv_bn(3, 64, 7) + conv_bn(64, 64, 1) + conv_bn(64, 192, 3)
    mixed = sum(conv_bn(cin, a, 1) + conv_bn(cin, b, 1) + conv_bn(b, c, 3) + conv_bn(cin, d, 1) + conv_bn(d, e, 3)
                + conv_bn(cin, f, 1) for cin, a, b, c, d, e, f in INCEPTION_V1_MIXED)
    return stem + mixed + 1024 * classes + classes


def c3d_parameters(classes: int) -> int:
    convs = sum(cin * cout * 27 + cout for cin, cout in C3D_CONVS)
    return convs + (8192 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * classes + classes)


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def on_meta(make):
    """A network built without memory or initialisation: shapes and counts only."""
    with torch.device("meta"):
        return make()


def test_i3d_has_the_published_size_and_pytorch_i3d_names() -> None:
    net = on_meta(InceptionI3D)
    assert count(net) == i3d_parameters(400) == I3D_KINETICS_PARAMETERS
    assert count(on_meta(lambda: InceptionI3D(I3D_CHARADES_CLASSES))) == i3d_parameters(I3D_CHARADES_CLASSES)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes["Conv3d_1a_7x7.conv3d.weight"] == (64, 3, 7, 7, 7)
    assert shapes["Conv3d_1a_7x7.bn.running_var"] == (64,)
    assert shapes["Mixed_3b.b1b.conv3d.weight"] == (128, 96, 3, 3, 3)
    assert shapes["Mixed_5c.b3b.conv3d.weight"] == (128, 832, 1, 1, 1)
    assert shapes["logits.conv3d.weight"] == (400, 1024, 1, 1, 1) and shapes["logits.conv3d.bias"] == (400,)
    assert not any(".bn." in k for k in shapes if k.startswith("logits"))


def test_c3d_has_the_published_size_and_the_port_names() -> None:
    net = on_meta(C3D)
    assert count(net) == c3d_parameters(487) == C3D_PARAMETERS
    names = [k for k in net.state_dict() if k.endswith(".weight")]
    assert names == [f"{n}.weight" for n in ("conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a",
                                               "conv5b", "fc6", "fc7", "fc8")]
    assert tuple(net.fc6.weight.shape) == (4096, 8192)


def test_published_layouts_load_strictly_through_the_file(tmp_path, c3d_weights) -> None:
    for classes in (400, I3D_CHARADES_CLASSES):  # rgb_imagenet.pt, rgb_charades.pt
        path = write_published_weights(tmp_path / f"rgb_{classes}.pt", InceptionI3D(classes))
        saved = torch.load(path, weights_only=True)
        net = build_backbone(get_recipe("charades-i3d"), read_state_dict(path, get_recipe("charades-i3d")), str(path))
        assert net.logits.conv3d.out_channels == classes and not net.training
        assert all(torch.equal(v, saved[k]) for k, v in net.state_dict().items() if k in saved)
    saved = torch.load(c3d_weights, weights_only=True)
    net = build_backbone(get_recipe("tacos-c3d"), read_state_dict(c3d_weights, get_recipe("tacos-c3d")), "c3d")
    assert all(torch.equal(v, saved[k]) for k, v in net.state_dict().items())


class NotWeights:
    """A pickled object: torch.load(weights_only=True) must refuse to build it."""


def test_wrong_weights_files_get_one_line_naming_the_expected_file(tmp_path, c3d_weights) -> None:
    i3d = get_recipe("charades-i3d")
    text_file = tmp_path / "notes.pt"
    text_file.write_text("not weights")
    object_file = tmp_path / "object.pt"
    object_file.write_bytes(pickle.dumps({"model": NotWeights()}, protocol=2))
    cut = {k: v for k, v in InceptionI3D().state_dict().items() if not k.startswith("Mixed_5c")}
    cut_file = tmp_path / "cut.pt"
    torch.save(cut, cut_file)
    cases = {c3d_weights: "no logits.conv3d.weight", text_file: "not a PyTorch weights file",
             object_file: "weights_only=True", cut_file: "missing"}
    for path, message in cases.items():
        with pytest.raises(WeightsError, match=message) as err:
            build_backbone(i3d, read_state_dict(path, i3d), str(path))
        assert str(path) in str(err.value) and "rgb_imagenet.pt" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="rgb_imagenet.pt or rgb_charades.pt"):
        read_state_dict(tmp_path / "absent.pt", i3d)
