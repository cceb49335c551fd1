"""TensorRT: profile arguments everywhere; engine build, parity and localizer where TensorRT and a GPU exist.

The calls into TensorRT are checked everywhere against a stand-in (tests/export/test_contracts.py); the tests
here run the real thing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from export.cli import EXIT_ERROR, main
from export.tensorrt import ShapeProfile, TensorRTUnavailable, tensorrt_module
from kernels.parity import EXPORT_FP32_ATOL as PROB_ATOL
from tests.export.conftest import Exported
from tests.export.tiny import MAX_CLIPS, VIDEO_DIM

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
HAS_GPU = torch.cuda.is_available()
HAS_NLTK = importlib.util.find_spec("nltk") is not None  # the localizer's query text (absent from the GPU image)
MISSING = "TensorRT not installed" if not HAS_TENSORRT else "no CUDA GPU" if not HAS_GPU else ""
needs_tensorrt_and_gpu = pytest.mark.skipif(bool(MISSING), reason=MISSING)
QUERY = "the person opens the door"


def test_profile_checks_and_clamps():
    profile = ShapeProfile((1, 1, 1), (1, 16, 8), (8, 32, 10))
    assert profile.clamp((16, 40, 3)) == (8, 32, 3)
    assert profile.input_shape("video", "max", VIDEO_DIM) == (8, 32, VIDEO_DIM)
    assert profile.input_shape("word_mask", "opt", VIDEO_DIM) == (1, 8)
    # the queries range from one for the whole batch to one per row
    assert profile.input_shape("words", "min", VIDEO_DIM) == (1, 1)
    assert profile.input_shape("word_class", "max", VIDEO_DIM) == (8, 10)
    assert [profile.input_shape("query_row", which, VIDEO_DIM) for which in ("min", "opt", "max")] == [(1,), (1,), (8,)]
    assert ShapeProfile((2, 1, 1), (4, 2, 2), (4, 2, 2)).input_shape("words", "min", VIDEO_DIM) == (1, 1)
    with pytest.raises(ValueError, match="min <= opt <= max"):
        ShapeProfile((1, 1, 1), (1, 64, 8), (8, 32, 10))
    with pytest.raises(ValueError, match="3 sizes >= 1"):
        ShapeProfile((0, 1, 1), (1, 2, 2), (2, 2, 2))


@pytest.mark.skipif(not MISSING, reason="TensorRT and a GPU are present")
def test_trt_format_without_tensorrt_fails_before_writing(tmp_path, capsys):
    with pytest.raises(TensorRTUnavailable):
        tensorrt_module()
    code = main(["--ckpt", str(tmp_path / "best.pt"), "--format", "trt"])
    assert code == EXIT_ERROR
    assert ("no CUDA GPU" if HAS_TENSORRT else "TensorRT is not installed") in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@needs_tensorrt_and_gpu
@pytest.mark.parametrize("fused", [False, True], ids=["portable", "fused"])
def test_engine_builds_verifies_and_localizes(exported: Exported, fused: bool, tmp_path, capsys):
    from export import OnnxLocalizer, TensorRTLocalizer

    engine = tmp_path / ("model.fused.engine" if fused else "model.engine")
    args = ["--ckpt", str(exported.checkpoint), "--format", "trt", "--out", str(engine), "--seed", "0",
            "--timing-cache", str(tmp_path / "timing.cache")] + (["--fused"] if fused else [])
    assert main(args) == 0, capsys.readouterr().err
    log = capsys.readouterr().out
    assert "parity vs PyTorch eval, TensorRT" in log and "FAIL" not in log
    assert engine.is_file() and engine.with_name(engine.name + ".json").is_file()
    if not HAS_NLTK:
        pytest.skip("engine built and verified; TensorRTLocalizer.predict needs nltk for the query text")
    features = np.random.default_rng(0).normal(size=(MAX_CLIPS, VIDEO_DIM)).astype(np.float32)
    got = TensorRTLocalizer(engine).predict(features, QUERY, duration=20.0)
    want = OnnxLocalizer(exported.onnx).predict(features, QUERY, duration=20.0)
    assert [g[:2] for g in got] == [w[:2] for w in want]
    np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], atol=PROB_ATOL)
