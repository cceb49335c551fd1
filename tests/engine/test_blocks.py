"""Engine blocks: padding invariance, parameter layout and clear errors on bad input."""

import pytest
import torch
from torch import nn

import engine

B, T, N, DIM = 3, 10, 6, 16
VIDEO_LENGTHS = torch.tensor([10, 6, 1])
QUERY_LENGTHS = torch.tensor([6, 3, 1])
ATOL = 1e-5


def prefix_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    return torch.arange(size) < lengths[:, None]


def scramble_padding(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask[..., None], x, torch.randn_like(x) * 100)


def assert_same_on_valid(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> None:
    torch.testing.assert_close(a[mask], b[mask], atol=ATOL, rtol=ATOL)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def video_inputs():
    x = torch.randn(B, T, DIM)
    mask = prefix_mask(VIDEO_LENGTHS, T)
    return x, mask, scramble_padding(x, mask)


def test_multiscale_lstm_layout_and_padding():
    m = engine.MultiScaleLSTM(DIM, num_scales=3).eval()
    assert all(isinstance(lstm, nn.LSTM) and lstm.bidirectional for lstm in m.lstms)
    assert m.merge.in_features == 3 * DIM and isinstance(m.norm, nn.LayerNorm)
    x, mask, x_noisy = video_inputs()
    out = m(x, VIDEO_LENGTHS)
    assert_same_on_valid(out, m(x_noisy, VIDEO_LENGTHS), mask)
    assert out[~mask].abs().max() == 0


def test_multiscale_lstm_equals_its_parts():
    """merge(concat of each scale's strided BiLSTM over norm(x)) built by hand from the reference op."""
    m = engine.MultiScaleLSTM(DIM, num_scales=2).eval()
    x, mask, _ = video_inputs()
    from kernels.ms_lstm.reference import strided_bilstm

    h = m.norm(x)
    parts = [strided_bilstm(h, VIDEO_LENGTHS, lstm, s) for s, lstm in enumerate(m.lstms, start=1)]
    expected = m.merge(torch.cat(parts, -1) * mask[..., None]) * mask[..., None]
    torch.testing.assert_close(m(x, VIDEO_LENGTHS), expected)


@pytest.mark.parametrize("qkv", ["linear", "lstm"])
def test_transformer_block_padding(qkv):
    block = engine.TransformerBlock(DIM, num_heads=4, qkv=qkv, num_scales=2).eval()
    x, mask, x_noisy = video_inputs()
    assert_same_on_valid(block(x, mask), block(x_noisy, mask), mask)


def test_transformer_block_matches_manual_attention():
    block = engine.TransformerBlock(DIM, num_heads=4, qkv="linear").eval()
    x, mask, _ = video_inputs()
    h = block.norm1(x)
    heads = lambda t: t.view(B, T, 4, DIM // 4).transpose(1, 2)  # noqa: E731
    q, k, v = heads(block.q(h)), heads(block.k(h)), heads(block.v(h))
    scores = (q @ k.transpose(-1, -2)) / (DIM // 4) ** 0.5
    scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    attn = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, DIM)
    y = x + attn
    expected = y + block.ffn(block.norm2(y))
    torch.testing.assert_close(block(x, mask), expected, atol=ATOL, rtol=ATOL)


def test_temporal_conv_padding_and_kernel_sizes():
    conv = engine.MultiScaleTemporalConv(DIM, kernel_sizes=(3, 5, 7)).eval()
    x, mask, x_noisy = video_inputs()
    out = conv(x, mask)
    assert_same_on_valid(out, conv(x_noisy, mask), mask)
    assert out[~mask].abs().max() == 0
    with pytest.raises(ValueError, match="kernel_sizes"):
        engine.MultiScaleTemporalConv(DIM, kernel_sizes=(3, 4))


def test_cqa_padding_in_video_and_query():
    cqa = engine.ContextQueryAttention(DIM).eval()
    x, vmask, x_noisy = video_inputs()
    q = torch.randn(B, N, DIM)
    qmask = prefix_mask(QUERY_LENGTHS, N)
    out = cqa(x, q, vmask, qmask)
    assert_same_on_valid(out, cqa(x_noisy, scramble_padding(q, qmask), vmask, qmask), vmask)
    assert cqa.proj.in_features == 4 * DIM and cqa.w_c.shape == (DIM,)


def test_bad_inputs_name_the_argument():
    x, vmask, _ = video_inputs()
    q = torch.randn(B, N, DIM)
    qmask = prefix_mask(QUERY_LENGTHS, N)
    cqa = engine.ContextQueryAttention(DIM)
    with pytest.raises(ValueError, match="video must have 3 dims"):
        cqa(x[0], q, vmask, qmask)
    with pytest.raises(ValueError, match="query has shape"):
        cqa(x, q[:2], vmask, qmask)
    with pytest.raises(ValueError, match="query is empty"):
        cqa(x, q[:, :0], vmask, qmask[:, :0])
    with pytest.raises(ValueError, match="query_mask has no valid entry in batch row"):
        cqa(x, q, vmask, torch.zeros(B, N, dtype=torch.bool))
    with pytest.raises(ValueError, match="video_mask has shape"):
        cqa(x, q, vmask[:, :5], qmask)
    m = engine.MultiScaleLSTM(DIM, num_scales=2)
    with pytest.raises(ValueError, match="lengths has shape"):
        m(x, VIDEO_LENGTHS[:2])
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 10\]"):
        m(x, torch.tensor([11, 3, 2]))
    with pytest.raises(TypeError, match="lengths must be an integer tensor"):
        m(x, VIDEO_LENGTHS.float())
    with pytest.raises(ValueError, match="xs\\[0\\] must have 3 dims"):
        m(x[0], VIDEO_LENGTHS)
    with pytest.raises(ValueError, match="backend must be one of"):
        import kernels

        kernels.multi_scale_lstm([x], VIDEO_LENGTHS, [list(m.lstms)], backend="cuda")
