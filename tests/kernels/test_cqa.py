"""The fused CQA kernels against the reference op and a direct float64 evaluation, on ``--device`` (default CPU
through the Triton interpreter; ``--device cuda`` compiles the kernels and adds bf16 and the benchmark shapes).

Inputs are drawn on the CPU (seeded) and moved, so the numbers do not depend on the device's RNG.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import kernels
from kernels import UnsupportedInput
from kernels.cqa.op import cqa_features_triton
from kernels.cqa.reference import cqa_attend
from kernels.parity import FP32_TF32_TOL, rel_err, tolerance
from kernels.policy import CQA_MAX_D as MAX_D
from kernels.policy import CQA_MAX_N as MAX_N
from kernels.policy import CQA_MAX_T as MAX_T
from kernels.policy import cqa_flops
from tests.kernels import float32_matmul

# inputs and cotangents are O(1): below this scale errors are measured absolutely (e.g. dw_q when N = 1, zero in
# exact arithmetic since both softmaxes are shift-invariant in Q·w_q)
ABS_FLOOR = 1.0
WEIGHT_SCALE = 0.5  # trilinear weights ~N(0, 0.25) up to d = 64: scores of a few units, both softmaxes peaked
SCORE_SCALE = 4.0  # beyond d = 64 the weights shrink as 4 / sqrt(d), keeping the scores' spread
cuda_only = pytest.mark.cuda_only
CASES = [  # (B, T, N, d, dtype)
    (2, 17, 1, 16, torch.float32),
    (3, 40, 30, 32, torch.float32),
    (2, 33, 12, 64, torch.float32),
    (2, 300, 7, 24, torch.float32),
    (2, 33, 12, 64, torch.float16),
    (3, 40, 30, 32, torch.float16),
]
# CUDA only: bf16 (the interpreter's bf16 tl.dot is wrong) and the benchmark's shapes, B = 16, T = 256, d = 512,
# N = 12 (bench.suites.kernels GPU_SHAPES) and N = 32 (the kernel's word limit)
CUDA_CASES = [
    (2, 33, 12, 64, torch.bfloat16),
    (3, 40, 30, 32, torch.bfloat16),
    *((16, 256, n, 512, dtype) for n in (12, 32) for dtype in (torch.float32, torch.float16, torch.bfloat16)),
]
GRAD_NAMES = ("video", "query", "w_c", "w_q", "w_m", "proj_weight", "proj_bias")
FEATURE_NODE = "_CQAFeaturesBackward"


def case_id(case: tuple) -> str:
    B, T, N, d, dtype = case
    return f"B{B}-T{T}-N{N}-d{d}-{str(dtype).removeprefix('torch.')}"


def make_inputs(B: int, T: int, N: int, d: int, dtype: torch.dtype, seed: int,
                device: torch.device | str = "cpu") -> dict:
    """Fresh random block inputs with ragged masks: sample 0 full length, the last one a single clip/word;
    drawn on the CPU, then moved to ``device``."""
    gen = torch.Generator().manual_seed(seed)
    randn = lambda *shape, scale=1.0: (torch.randn(*shape, generator=gen) * scale).to(dtype)
    video_len = torch.randint(1, T + 1, (B,), generator=gen)
    query_len = torch.randint(1, N + 1, (B,), generator=gen)
    video_len[0], query_len[0], video_len[-1], query_len[-1] = T, N, 1, 1
    w = min(WEIGHT_SCALE, SCORE_SCALE / d**0.5)
    inputs = dict(
        video=randn(B, T, d), query=randn(B, N, d),
        video_mask=torch.arange(T) < video_len[:, None], query_mask=torch.arange(N) < query_len[:, None],
        w_c=randn(d, scale=w), w_q=randn(d, scale=w), w_m=randn(d, scale=w),
        proj_weight=randn(d, 4 * d, scale=d**-0.5), proj_bias=randn(d),
    )
    return {k: v.to(device) for k, v in inputs.items()}


def seeded_randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def direct_float64(video, query, video_mask, query_mask, w_c, w_q, w_m, proj_weight, proj_bias):
    """docs/design.md §2.4 written out in einsums, -inf masking and the T x T association (independent of the op)."""
    S = (
        torch.einsum("btk,k->bt", video, w_c)[:, :, None]
        + torch.einsum("bnk,k->bn", query, w_q)[:, None, :]
        + torch.einsum("btk,k,bnk->btn", video, w_m, query)
    )
    S_r = S.masked_fill(~query_mask[:, None, :], float("-inf")).softmax(dim=2)
    S_c = S.masked_fill(~video_mask[:, :, None], float("-inf")).softmax(dim=1)
    A = torch.einsum("btn,bnk->btk", S_r, query)
    Bq = torch.einsum("bts,bsk->btk", torch.einsum("btn,bsn->bts", S_r, S_c), video)
    fused = torch.cat([video, A, video * A, video * Bq], dim=-1)
    return (fused @ proj_weight.T + proj_bias) * video_mask[..., None]


def output_and_grads(fn, inputs: dict, cotangent: torch.Tensor, dtype: torch.dtype | None) -> list[torch.Tensor]:
    """Output and input gradients of ``fn``, the differentiable inputs cast to ``dtype`` (None: as they are)."""
    leaves = {k: v.detach().to(dtype or v.dtype).requires_grad_() if k in GRAD_NAMES else v for k, v in inputs.items()}
    out = fn(**leaves)
    cotangent = cotangent.to(device=out.device, dtype=dtype or out.dtype)
    grads = torch.autograd.grad((out * cotangent).sum(), [leaves[k] for k in GRAD_NAMES])
    return [out.detach(), *grads]


def graph_nodes(t: torch.Tensor) -> set[str]:
    seen, stack, names = set(), [t.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return names


@pytest.fixture(autouse=True)
def tf32_off():
    """fp32 parity is measured with TF32 off (kernel dots and cuBLAS); restored after each test."""
    with float32_matmul(False):
        yield


def assert_parity(case: tuple, seed: int, device: torch.device, tol: float) -> None:
    B, T, N, d, dtype = case
    inputs = make_inputs(B, T, N, d, dtype, seed=seed, device=device)
    cotangent = seeded_randn(B, T, d, seed=seed)
    triton_op = lambda **kw: kernels.context_query_attention(**kw, backend="triton")
    reference_op = lambda **kw: kernels.context_query_attention(**kw, backend="reference")
    got = output_and_grads(triton_op, inputs, cotangent, dtype)
    same_dtype = output_and_grads(reference_op, inputs, cotangent, dtype)
    exact = output_and_grads(direct_float64, inputs, cotangent, torch.float64)
    errors = {}
    for name, g, r, x in zip(("out", *GRAD_NAMES), got, same_dtype, exact, strict=True):
        assert g.dtype == dtype and g.shape == r.shape and g.device == r.device, name
        assert torch.isfinite(g).all(), f"{name} has non-finite values"
        errors[name] = (rel_err(g, r, ABS_FLOOR), rel_err(g, x, ABS_FLOOR))
    bad = {k: v for k, v in errors.items() if not max(v) <= tol}  # NaN fails
    assert not bad, f"(vs reference, vs float64) above {tol}: {bad}"


PARITY_CASES = [pytest.param(case, seed, id=case_id(case)) for seed, case in enumerate(CASES)]
PARITY_CASES += [pytest.param(case, len(CASES) + i, id=case_id(case), marks=cuda_only)
                 for i, case in enumerate(CUDA_CASES)]


@pytest.mark.parametrize("case,seed", PARITY_CASES)
def test_output_and_gradients_match_reference_and_float64(case, seed, device):
    assert_parity(case, seed, device, tolerance(case[-1], tf32=False))


@cuda_only
@pytest.mark.parametrize("N", [12, 32])
def test_benchmark_shapes_with_tf32(N, device):
    """fp32 with TF32 on (kernel dots and cuBLAS), B = 16, T = 256, d = 512: the TF32 bound."""
    with float32_matmul(True):
        assert_parity((16, 256, N, 512, torch.float32), 100 + N, device, FP32_TF32_TOL)


def test_padding_gets_exactly_zero_gradient(device):
    inputs = make_inputs(3, 20, 9, 16, torch.float32, seed=7, device=device)
    out, d_video, d_query, *_ = output_and_grads(
        lambda **kw: kernels.context_query_attention(**kw, backend="triton"), inputs, seeded_randn(3, 20, 16, seed=8),
        torch.float32,
    )
    assert torch.all(out[~inputs["video_mask"]] == 0)
    assert torch.all(d_video[~inputs["video_mask"]] == 0)
    assert torch.all(d_query[~inputs["query_mask"]] == 0)


def test_features_match_reference_attention_on_every_row(device):
    """X = [A | C⊙A | C⊙Bq] incl. padded clips' rows, with a cotangent that is non-zero on them."""
    B, T, N, d = 2, 24, 6, 16
    inputs = make_inputs(B, T, N, d, torch.float32, seed=11, device=device)
    args = ("video", "query", "video_mask", "query_mask", "w_c", "w_q", "w_m")
    leaves = [inputs[k].clone().requires_grad_(k not in ("video_mask", "query_mask")) for k in args]
    diff = [t for t in leaves if t.requires_grad]
    cotangent = seeded_randn(B, T, 3 * d, seed=12).float().to(device)

    def reference_features(C, Q, cm, qm, w_c, w_q, w_m):
        A, Bq = cqa_attend(C, Q, cm, qm, w_c, w_q, w_m)
        return torch.cat([A, C * A, C * Bq], dim=-1)

    results = []
    for fn in (cqa_features_triton, reference_features):
        x = fn(*leaves)
        results.append([x.detach(), *torch.autograd.grad((x * cotangent).sum(), diff)])
    for name, g, r in zip(("X", "video", "query", "w_c", "w_q", "w_m"), *results, strict=True):
        assert rel_err(g, r, ABS_FLOOR) <= tolerance(torch.float32, tf32=False), name


@pytest.mark.parametrize("dtype", [torch.float16, pytest.param(torch.bfloat16, marks=cuda_only)])
def test_autocast_runs_in_the_autocast_dtype(dtype, device):
    inputs = make_inputs(2, 20, 6, 32, torch.float32, seed=17, device=device)
    cotangent = seeded_randn(2, 20, 32, seed=18)
    results = []
    for backend in ("triton", "reference"):
        op = lambda backend=backend, **kw: kernels.context_query_attention(**kw, backend=backend)
        with torch.autocast(device.type, dtype=dtype):
            results.append(output_and_grads(op, inputs, cotangent, torch.float32))
    for name, g, r in zip(("out", *GRAD_NAMES), *results, strict=True):
        assert g.dtype == r.dtype, name
        assert rel_err(g, r, ABS_FLOOR) <= tolerance(dtype, tf32=False), name


@pytest.mark.parametrize("dtype", [torch.float16, pytest.param(torch.bfloat16, marks=cuda_only)])
def test_autocast_takes_low_precision_activations_with_fp32_weights(dtype, device):
    """Under autocast the video and query may already be in the autocast dtype while the weights are fp32
    parameters: the op still runs (no mixed-dtype GEMM) and matches the reference under the same autocast."""
    inputs = make_inputs(2, 20, 6, 32, torch.float32, seed=19, device=device)
    inputs["video"], inputs["query"] = inputs["video"].to(dtype), inputs["query"].to(dtype)
    cotangent = seeded_randn(2, 20, 32, seed=20)
    results = []
    for backend in ("triton", "reference"):
        op = lambda backend=backend, **kw: kernels.context_query_attention(**kw, backend=backend)
        with torch.autocast(device.type, dtype=dtype):
            results.append(output_and_grads(op, inputs, cotangent, None))
    for name, g, r in zip(("out", *GRAD_NAMES), *results, strict=True):
        assert g.dtype == r.dtype, name
        assert rel_err(g, r, ABS_FLOOR) <= tolerance(dtype, tf32=False), name


@pytest.mark.parametrize(
    ("T", "N", "d", "dtype", "word"),
    [
        (MAX_T + 1, 4, 16, torch.float32, "T (clips)"),
        (8, MAX_N + 1, 16, torch.float32, "N (words)"),
        (8, 4, MAX_D + 1, torch.float32, "d (features)"),
        (8, 4, 16, torch.float64, "dtype"),
    ],
)
def test_triton_backend_rejects_out_of_limit_inputs(T, N, d, dtype, word, device):
    inputs = make_inputs(1, T, N, d, dtype, seed=3, device=device)
    with pytest.raises(UnsupportedInput, match=word.replace("(", r"\(").replace(")", r"\)")):
        kernels.context_query_attention(**inputs, backend="triton")


def test_auto_runs_the_reference_on_cpu_and_the_kernels_on_cuda(device):
    inputs = make_inputs(2, 10, 4, 16, torch.float32, seed=5, device=device)
    inputs["video"].requires_grad_()
    auto = kernels.context_query_attention(**inputs, backend="auto")
    fused = kernels.context_query_attention(**inputs, backend="triton")
    assert FEATURE_NODE in graph_nodes(fused)
    if device.type == "cpu":  # "auto" never picks the interpreter
        assert torch.equal(auto, kernels.context_query_attention(**inputs, backend="reference"))
        assert FEATURE_NODE not in graph_nodes(auto)
    else:
        assert torch.equal(auto, fused) and FEATURE_NODE in graph_nodes(auto)


def test_mismatched_dtypes_are_named(device):
    inputs = make_inputs(1, 8, 4, 16, torch.float32, seed=9, device=device)
    inputs["query"] = inputs["query"].half()
    with pytest.raises(TypeError, match="query dtype"):
        kernels.context_query_attention(**inputs, backend="triton")


def test_flops_match_torch_flop_counter_on_the_reference():
    B, T, N, d = 2, 12, 5, 8
    inputs = make_inputs(B, T, N, d, torch.float32, seed=13)
    for name in GRAD_NAMES:
        inputs[name].requires_grad_()
    with FlopCounterMode(display=False) as forward:
        out = kernels.context_query_attention(**inputs, backend="reference")
    with FlopCounterMode(display=False) as backward:
        out.sum().backward()
    assert cqa_flops(B, T, N, d) == forward.get_total_flops()
    assert cqa_flops(B, T, N, d, backward=True) == backward.get_total_flops()
