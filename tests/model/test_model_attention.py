"""Attention against a float64 reference, and rotary positions being relative."""

from __future__ import annotations

import math

import pytest
import torch

from tfcli.model.attention import (
    CPU_PLAIN_ATTENTION_MAX_KEYS,
    MultiHeadAttention,
    RotaryEmbedding,
    apply_rotary,
    attention,
    compute_dtype,
    key_padding_bias,
    plain_is_faster,
    reference_attention,
)
from tfcli.model.config import TransformerConfig

pytestmark = pytest.mark.timeout(300)

B, H, D = 3, 4, 8


@pytest.fixture(autouse=True)
def _seed():
    # One thread: these tensors are tiny, so threads only add overhead and contention.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def float64_attention(q, k, v, mask=None, causal=False):
    """softmax(q k^T / sqrt(D)) v in float64, written out with no shortcuts."""
    q, k, v = q.double(), k.double(), v.double()
    Tq, Tk = q.size(-2), k.size(-2)
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.size(-1))
    allowed = torch.ones(q.size(0), q.size(1), Tq, Tk, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & mask
    if causal:  # bottom-right aligned: query i (of Tq) is at absolute position Tk - Tq + i
        qpos = torch.arange(Tq)[:, None] + (Tk - Tq)
        allowed = allowed & (torch.arange(Tk)[None, :] <= qpos)
    scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.exp(scores - scores.amax(-1, keepdim=True))
    weights = weights / weights.sum(-1, keepdim=True)
    return torch.einsum("bhqk,bhkd->bhqd", weights, v)


def padding_mask(lengths, T):
    """(B,) lengths -> (B,1,1,T) True at real keys."""
    return (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None])[:, None, None, :]


CASES = {
    "plain": dict(Tq=6, Tk=6, lengths=None, causal=False),
    "padding": dict(Tq=6, Tk=6, lengths=[6, 4, 1], causal=False),
    "causal": dict(Tq=6, Tk=6, lengths=None, causal=True),
    "padding+causal": dict(Tq=6, Tk=6, lengths=[6, 5, 3], causal=True),
    "cross-padding": dict(Tq=4, Tk=7, lengths=[7, 2, 5], causal=False),
    "cached-causal": dict(Tq=3, Tk=7, lengths=None, causal=True),
    "one-new-query": dict(Tq=1, Tk=5, lengths=None, causal=True),
}


@pytest.mark.parametrize("use_fused", [True, False], ids=["sdpa", "plain"])
@pytest.mark.parametrize("case", list(CASES))
def test_attention_matches_float64_reference(case, use_fused):
    c = CASES[case]
    q = torch.randn(B, H, c["Tq"], D)
    k = torch.randn(B, H, c["Tk"], D)
    v = torch.randn(B, H, c["Tk"], D)
    mask = None if c["lengths"] is None else padding_mask(c["lengths"], c["Tk"])
    got = attention(q, k, v, mask=mask, causal=c["causal"], use_fused=use_fused)
    want = float64_attention(q, k, v, mask=mask, causal=c["causal"])
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0)


def test_reference_attention_switch_routes_module_attention():
    import tfcli.model.attention as at

    assert at.USE_FUSED_ATTENTION
    with reference_attention():
        assert not at.USE_FUSED_ATTENTION
    assert at.USE_FUSED_ATTENTION


@pytest.mark.parametrize("positional", ["sinusoidal", "rotary"])
def test_self_attention_module_fused_equals_reference(positional):
    config = TransformerConfig(vocab_size=10, d_model=32, heads=4, positional=positional)
    mha = MultiHeadAttention(config).eval()
    x = torch.randn(B, 6, 32)
    mask = padding_mask([6, 4, 2], 6)
    rotary = RotaryEmbedding(8)(torch.arange(6)) if positional == "rotary" else None
    for causal in (False, True):
        fused, (k1, v1) = mha(x, mask=mask, causal=causal, rotary=rotary)
        with reference_attention():
            plain, (k2, v2) = mha(x, mask=mask, causal=causal, rotary=rotary)
        torch.testing.assert_close(fused, plain, atol=1e-5, rtol=0)
        torch.testing.assert_close(k1, k2, atol=0, rtol=0)


def test_cross_attention_module_fused_equals_reference():
    config = TransformerConfig(vocab_size=10, d_model=32, heads=4)
    mha = MultiHeadAttention(config, cross=True).eval()
    assert not hasattr(mha, "qkv") and mha.kv.out_features == 64  # Q and fused KV
    x, memory = torch.randn(B, 5, 32), torch.randn(B, 7, 32)
    mask = padding_mask([7, 3, 1], 7)
    fused, kv = mha(x, memory=memory, mask=mask)
    with reference_attention():
        plain, _ = mha(x, memory=memory, mask=mask)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=0)
    # Passing the memory's K/V back in (the decode cache) gives the same result.
    again, _ = mha(x, mask=mask, past=kv)
    torch.testing.assert_close(again, fused, atol=0, rtol=0)


def test_attention_module_runs_under_bf16_autocast():
    config = TransformerConfig(vocab_size=10, d_model=32, heads=4, positional="rotary")
    mha = MultiHeadAttention(config)
    x = torch.randn(B, 6, 32)
    rotary = RotaryEmbedding(8)(torch.arange(6))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = mha(x, mask=padding_mask([6, 3, 1], 6), causal=True, rotary=rotary)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


def _score(q, k, m, n, rope):
    """q placed at position m, k at position n -> their rotary dot product."""
    cos, sin = rope(torch.tensor([m, n]))
    qr = apply_rotary(q.view(1, -1), cos[:1], sin[:1])
    kr = apply_rotary(k.view(1, -1), cos[1:], sin[1:])
    return (qr * kr).sum().item()


def test_rotary_scores_depend_only_on_relative_position():
    rope = RotaryEmbedding(16)
    q, k = torch.randn(16), torch.randn(16)
    for m, n in [(0, 0), (3, 1), (1, 7), (10, 2)]:
        base = _score(q, k, m, n, rope)
        for c in (1, 5, 40, 200):
            assert _score(q, k, m + c, n + c, rope) == pytest.approx(base, abs=1e-4)
    # ...and do depend on it: otherwise the test above would pass for no positions at all.
    assert abs(_score(q, k, 0, 0, rope) - _score(q, k, 0, 3, rope)) > 1e-3
    # A rotation keeps the norm.
    cos, sin = rope(torch.tensor([37]))
    assert apply_rotary(q.view(1, -1), cos, sin).norm().item() == pytest.approx(q.norm().item())


def test_rotary_self_attention_is_shift_invariant():
    """Moving a whole sequence by c positions leaves rotary self-attention unchanged."""
    config = TransformerConfig(vocab_size=10, d_model=32, heads=4, positional="rotary")
    mha = MultiHeadAttention(config).eval()
    rope = RotaryEmbedding(8)
    x = torch.randn(B, 6, 32)
    out0, _ = mha(x, causal=True, rotary=rope(torch.arange(6)))
    out9, _ = mha(x, causal=True, rotary=rope(torch.arange(9, 15)))
    torch.testing.assert_close(out0, out9, atol=1e-5, rtol=0)


@pytest.mark.parametrize("use_fused", [True, False, None], ids=["sdpa", "plain", "dispatch"])
@pytest.mark.parametrize("case", list(CASES))
def test_additive_bias_mask_matches_float64_reference(case, use_fused):
    c = CASES[case]
    q, k, v = torch.randn(B, H, c["Tq"], D), torch.randn(B, H, c["Tk"], D), torch.randn(B, H, c["Tk"], D)
    lengths = c["lengths"] or [c["Tk"]] * B
    bias = key_padding_bias(torch.arange(c["Tk"])[None, :] < torch.tensor(lengths)[:, None], torch.float32)
    got = attention(q, k, v, mask=bias, causal=c["causal"], use_fused=use_fused)
    want = float64_attention(q, k, v, mask=padding_mask(lengths, c["Tk"]), causal=c["causal"])
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0)


def test_key_padding_bias_is_zero_at_real_keys_and_minus_inf_at_pads():
    bias = key_padding_bias(torch.tensor([[True, True, False], [True, False, False]]), torch.bfloat16)
    assert bias.shape == (2, 1, 1, 3) and bias.dtype is torch.bfloat16
    assert bias[0, 0, 0].tolist() == [0.0, 0.0, float("-inf")]
    assert bias[1, 0, 0].tolist() == [0.0, float("-inf"), float("-inf")]


def test_compute_dtype_follows_autocast():
    x = torch.randn(2, 3)
    assert compute_dtype(x) is torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert compute_dtype(x) is torch.bfloat16


def test_short_keys_on_the_cpu_take_the_plain_path():
    limit = CPU_PLAIN_ATTENTION_MAX_KEYS[torch.float32]
    q = torch.randn(1, 1, 4, D)
    assert plain_is_faster(q, torch.randn(1, 1, limit, D))
    assert not plain_is_faster(q, torch.randn(1, 1, limit + 1, D))
    assert plain_is_faster(q.bfloat16(), torch.randn(1, 1, limit + 1, D).bfloat16())
    assert not plain_is_faster(q.double(), torch.randn(1, 1, 4, D).double())


def test_plain_path_under_bf16_matches_the_fused_kernel():
    q, k, v = (torch.randn(B, H, 9, D, dtype=torch.bfloat16) for _ in range(3))
    bias = key_padding_bias(torch.arange(9)[None, :] < torch.tensor([9, 5, 2])[:, None], torch.bfloat16)
    for causal in (False, True):
        plain = attention(q, k, v, mask=bias, causal=causal, use_fused=False)
        fused = attention(q, k, v, mask=bias, causal=causal, use_fused=True)
        assert plain.dtype is torch.bfloat16
        torch.testing.assert_close(plain.float(), fused.float(), atol=2e-2, rtol=0)
