"""The fused CQA kernels (Triton interpreter) against the reference op and a direct float64 evaluation."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import kernels
from kernels import UnsupportedInput
from kernels.cqa.op import cqa_features_triton
from kernels.cqa.reference import cqa_attend
from kernels.policy import CQA_MAX_D as MAX_D
from kernels.policy import CQA_MAX_N as MAX_N
from kernels.policy import CQA_MAX_T as MAX_T
from kernels.policy import cqa_flops

TOLERANCE = {torch.float32: 1e-5, torch.float16: 1e-2}
ABS_FLOOR = 1.0  # inputs and cotangents are O(1): below this scale errors are measured absolutely
WEIGHT_SCALE = 0.5  # trilinear weights ~N(0, 0.25): scores of a few units, so both softmaxes are peaked
CASES = [  # (B, T, N, d, dtype)
    (2, 17, 1, 16, torch.float32),
    (3, 40, 30, 32, torch.float32),
    (2, 33, 12, 64, torch.float32),
    (2, 300, 7, 24, torch.float32),
    (2, 33, 12, 64, torch.float16),
    (3, 40, 30, 32, torch.float16),
]
GRAD_NAMES = ("video", "query", "w_c", "w_q", "w_m", "proj_weight", "proj_bias")
FEATURE_NODE = "_CQAFeaturesBackward"


def case_id(case: tuple) -> str:
    B, T, N, d, dtype = case
    return f"B{B}-T{T}-N{N}-d{d}-{str(dtype).removeprefix('torch.')}"


def make_inputs(B: int, T: int, N: int, d: int, dtype: torch.dtype, seed: int) -> dict:
    """Fresh random block inputs with ragged masks: sample 0 full length, the last one a single clip/word."""
    gen = torch.Generator().manual_seed(seed)
    randn = lambda *shape, scale=1.0: (torch.randn(*shape, generator=gen) * scale).to(dtype)
    video_len = torch.randint(1, T + 1, (B,), generator=gen)
    query_len = torch.randint(1, N + 1, (B,), generator=gen)
    video_len[0], query_len[0], video_len[-1], query_len[-1] = T, N, 1, 1
    return dict(
        video=randn(B, T, d), query=randn(B, N, d),
        video_mask=torch.arange(T) < video_len[:, None], query_mask=torch.arange(N) < query_len[:, None],
        w_c=randn(d, scale=WEIGHT_SCALE), w_q=randn(d, scale=WEIGHT_SCALE), w_m=randn(d, scale=WEIGHT_SCALE),
        proj_weight=randn(d, 4 * d, scale=d**-0.5), proj_bias=randn(d),
    )


def seeded_randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def direct_float64(video, query, video_mask, query_mask, w_c, w_q, w_m, proj_weight, proj_bias):
    """SPEC §2.3 written out in einsums, -inf masking and the T x T association (independent of the op)."""
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


def output_and_grads(fn, inputs: dict, cotangent: torch.Tensor, dtype: torch.dtype) -> list[torch.Tensor]:
    leaves = {k: v.detach().to(dtype).requires_grad_() if k in GRAD_NAMES else v for k, v in inputs.items()}
    out = fn(**leaves)
    grads = torch.autograd.grad((out * cotangent.to(dtype)).sum(), [leaves[k] for k in GRAD_NAMES])
    return [out.detach(), *grads]


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max(max |want|, 1): relative, but absolute for tensors that are ~0 (e.g. dw_q when
    N = 1, zero in exact arithmetic since both softmaxes are shift-invariant in Q·w_q).  NaN fails every bound."""
    return float((got.double() - want.double()).abs().max() / want.double().abs().max().clamp_min(ABS_FLOOR))


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


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_output_and_gradients_match_reference_and_float64(case):
    B, T, N, d, dtype = case
    inputs = make_inputs(B, T, N, d, dtype, seed=CASES.index(case))
    cotangent = seeded_randn(B, T, d, seed=CASES.index(case))
    triton_op = lambda **kw: kernels.context_query_attention(**kw, backend="triton")
    reference_op = lambda **kw: kernels.context_query_attention(**kw, backend="reference")
    got = output_and_grads(triton_op, inputs, cotangent, dtype)
    same_dtype = output_and_grads(reference_op, inputs, cotangent, dtype)
    exact = output_and_grads(direct_float64, inputs, cotangent, torch.float64)
    errors = {}
    for name, g, r, x in zip(("out", *GRAD_NAMES), got, same_dtype, exact, strict=True):
        assert g.dtype == dtype and g.shape == r.shape, name
        assert torch.isfinite(g).all(), f"{name} has non-finite values"
        errors[name] = (rel_err(g, r), rel_err(g, x))
    bad = {k: v for k, v in errors.items() if max(v) > TOLERANCE[dtype]}
    assert not bad, f"(vs reference, vs float64) above {TOLERANCE[dtype]}: {bad}"


def test_padding_gets_exactly_zero_gradient():
    inputs = make_inputs(3, 20, 9, 16, torch.float32, seed=7)
    out, d_video, d_query, *_ = output_and_grads(
        lambda **kw: kernels.context_query_attention(**kw, backend="triton"), inputs, seeded_randn(3, 20, 16, seed=8),
        torch.float32,
    )
    assert torch.all(out[~inputs["video_mask"]] == 0)
    assert torch.all(d_video[~inputs["video_mask"]] == 0)
    assert torch.all(d_query[~inputs["query_mask"]] == 0)


def test_features_match_reference_attention_on_every_row():
    """X = [A | C⊙A | C⊙Bq] incl. padded clips' rows, with a cotangent that is non-zero on them."""
    B, T, N, d = 2, 24, 6, 16
    inputs = make_inputs(B, T, N, d, torch.float32, seed=11)
    args = ("video", "query", "video_mask", "query_mask", "w_c", "w_q", "w_m")
    leaves = [inputs[k].clone().requires_grad_(k not in ("video_mask", "query_mask")) for k in args]
    diff = [t for t in leaves if t.requires_grad]
    cotangent = seeded_randn(B, T, 3 * d, seed=12).float()

    def reference_features(C, Q, cm, qm, w_c, w_q, w_m):
        A, Bq = cqa_attend(C, Q, cm, qm, w_c, w_q, w_m)
        return torch.cat([A, C * A, C * Bq], dim=-1)

    results = []
    for fn in (cqa_features_triton, reference_features):
        x = fn(*leaves)
        results.append([x.detach(), *torch.autograd.grad((x * cotangent).sum(), diff)])
    for name, g, r in zip(("X", "video", "query", "w_c", "w_q", "w_m"), *results, strict=True):
        assert rel_err(g, r) <= TOLERANCE[torch.float32], name


def test_autocast_runs_in_the_autocast_dtype():
    inputs = make_inputs(2, 20, 6, 32, torch.float32, seed=17)
    cotangent = seeded_randn(2, 20, 32, seed=18)
    results = []
    for backend in ("triton", "reference"):
        op = lambda backend=backend, **kw: kernels.context_query_attention(**kw, backend=backend)
        with torch.autocast("cpu", dtype=torch.float16):
            results.append(output_and_grads(op, inputs, cotangent, torch.float32))
    for name, g, r in zip(("out", *GRAD_NAMES), *results, strict=True):
        assert g.dtype == r.dtype, name
        assert rel_err(g, r) <= TOLERANCE[torch.float16], name


@pytest.mark.parametrize(
    ("T", "N", "d", "dtype", "word"),
    [
        (MAX_T + 1, 4, 16, torch.float32, "T (clips)"),
        (8, MAX_N + 1, 16, torch.float32, "N (words)"),
        (8, 4, MAX_D + 1, torch.float32, "d (features)"),
        (8, 4, 16, torch.float64, "dtype"),
    ],
)
def test_triton_backend_rejects_out_of_limit_inputs(T, N, d, dtype, word):
    inputs = make_inputs(1, T, N, d, dtype, seed=3)
    with pytest.raises(UnsupportedInput, match=word.replace("(", r"\(").replace(")", r"\)")):
        kernels.context_query_attention(**inputs, backend="triton")


def test_auto_on_cpu_runs_the_reference():
    inputs = make_inputs(2, 10, 4, 16, torch.float32, seed=5)
    inputs["video"].requires_grad_()
    auto = kernels.context_query_attention(**inputs, backend="auto")
    assert torch.equal(auto, kernels.context_query_attention(**inputs, backend="reference"))
    assert FEATURE_NODE not in graph_nodes(auto)
    assert FEATURE_NODE in graph_nodes(kernels.context_query_attention(**inputs, backend="triton"))


def test_mismatched_dtypes_are_named():
    inputs = make_inputs(1, 8, 4, 16, torch.float32, seed=9)
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
