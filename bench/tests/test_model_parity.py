"""Every model of the model suite (:data:`bench.suites.model.MODELS`) at the suite's TACoS-like GPU shape (d = 512,
8 heads, S = 3, T = 256, N = 12, batch 16): a training step with the compiled Triton kernels against the reference
ops -- loss, logits at valid clips and every gradient (:func:`tests.kernels.assert_model_parity`: fp32 with TF32
off, bf16 against a bf16-autocast reference).

Needs the compiled kernels: a CUDA device and ``TRITON_INTERPRET`` unset or 0 -- ``python -m pytest
bench/tests/test_model_parity.py`` on a GPU machine (bench/conftest.py leaves the interpreter off there), or
``python -m pytest --device cuda``.  Through the interpreter these shapes would take hours.
"""

import os

import pytest
import torch

from bench.suites.model import GPU_SHAPES, MODELS, build, random_batch
from tests.kernels import assert_model_parity

CLIPS = 256  # the TACoS-like workload of GPU_SHAPES
COMPILED = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1"
NOT_COMPILED = ("CUDA only, compiled kernels: run on a GPU machine without TRITON_INTERPRET=1 (python -m pytest "
                "bench/tests/test_model_parity.py, or python -m pytest --device cuda)")


@pytest.mark.skipif(not COMPILED, reason=NOT_COMPILED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", MODELS)
def test_fused_kernels_match_the_reference_ops_at_benchmark_shapes(name: str, dtype: torch.dtype) -> None:
    workload = next(w for w in GPU_SHAPES.workloads if w.clips == CLIPS)
    cpu = torch.device("cpu")
    model = build(name, GPU_SHAPES, workload, cpu)
    batch = random_batch(0, GPU_SHAPES.train_batch, GPU_SHAPES, workload, cpu)
    assert_model_parity(model, batch, torch.device("cuda"), dtype)
