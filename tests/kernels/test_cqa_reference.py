"""The reference CQA against a direct float64 evaluation of docs/design.md §2.4, sample by sample: the reference runs on
``--device`` (inputs drawn on the CPU and moved), the textbook evaluation on the CPU."""

import torch

from kernels.cqa.reference import cqa_reference

B, T, N, D = 3, 9, 5, 8
VIDEO_LENGTHS = [9, 4, 1]
QUERY_LENGTHS = [5, 2, 1]
ATOL = 1e-10


def direct(C, Q, cm_len, qm_len, w_c, w_q, w_m, W, bias):
    """Textbook formulas on one sample's valid rows only: the T x T product is formed on purpose."""
    Cv, Qv = C[:cm_len], Q[:qm_len]
    S = torch.empty(C.shape[0], qm_len, dtype=C.dtype)
    for i in range(C.shape[0]):
        for j in range(qm_len):
            S[i, j] = C[i] @ w_c + Qv[j] @ w_q + (C[i] * w_m) @ Qv[j]
    S_r = torch.softmax(S, dim=1)
    S_c = torch.softmax(S[:cm_len], dim=0)
    A = S_r @ Qv
    Bq = S_r @ S_c.T @ Cv  # the T x T association of the authors' code
    out = torch.cat([C, A, C * A, C * Bq], dim=-1) @ W.T + bias
    out[cm_len:] = 0
    return out


def test_matches_direct_float64_evaluation(device):
    torch.manual_seed(0)
    C, Q = torch.randn(B, T, D, dtype=torch.float64), torch.randn(B, N, D, dtype=torch.float64)
    w_c, w_q, w_m = (torch.randn(D, dtype=torch.float64) for _ in range(3))
    W, bias = torch.randn(D, 4 * D, dtype=torch.float64), torch.randn(D, dtype=torch.float64)
    cm = torch.arange(T) < torch.tensor(VIDEO_LENGTHS)[:, None]
    qm = torch.arange(N) < torch.tensor(QUERY_LENGTHS)[:, None]
    args = [t.to(device) for t in (C, Q, cm, qm, w_c, w_q, w_m, W, bias)]
    out = cqa_reference(*args).cpu()
    for b in range(B):
        expected = direct(C[b], Q[b], VIDEO_LENGTHS[b], QUERY_LENGTHS[b], w_c, w_q, w_m, W, bias)
        torch.testing.assert_close(out[b], expected, atol=ATOL, rtol=0)
    assert torch.isfinite(out).all()


def test_padding_values_never_reach_valid_outputs(device):
    torch.manual_seed(1)
    C, Q = torch.randn(B, T, D).to(device), torch.randn(B, N, D).to(device)
    w = [torch.randn(D).to(device) for _ in range(3)]
    W, bias = torch.randn(D, 4 * D).to(device), torch.randn(D).to(device)
    cm = (torch.arange(T) < torch.tensor(VIDEO_LENGTHS)[:, None]).to(device)
    qm = (torch.arange(N) < torch.tensor(QUERY_LENGTHS)[:, None]).to(device)
    out = cqa_reference(C, Q, cm, qm, *w, W, bias)
    C2 = torch.where(cm[..., None], C, torch.full_like(C, 1e4))
    Q2 = torch.where(qm[..., None], Q, torch.full_like(Q, -1e4))
    torch.testing.assert_close(cqa_reference(C2, Q2, cm, qm, *w, W, bias), out)
