"""Attention: the scaled dot-product kernel, rotary positions and multi-head attention.

Shapes as in :mod:`tfcli.model.transformer`. A mask is either boolean ("may attend" where
True) or an additive float bias (0 where a query may attend, -inf elsewhere) in the dtype the
attention computes in; the models build one additive key-padding bias (B,1,1,S) per batch
(:func:`key_padding_bias`) and share it across layers, and causal self-attention is a flag
(SDPA's ``is_causal``), never a materialised (B,1,T,T) mask.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from tfcli.model.config import TransformerConfig

#: Route attention through the fused SDPA kernel. Tests switch it off (reference_attention())
#: to compare against the plain computation; nothing else should need to.
USE_FUSED_ATTENTION = True


@contextmanager
def reference_attention():
    """Run every attention inside the block through the plain reference path."""
    global USE_FUSED_ATTENTION
    previous, USE_FUSED_ATTENTION = USE_FUSED_ATTENTION, False
    try:
        yield
    finally:
        USE_FUSED_ATTENTION = previous


#: Longest key sequence for which the CPU computes attention with plain batched matrix products
#: instead of SDPA's flash kernel, by dtype. The flash kernel works in blocks tuned for long
#: sequences; on the short sentences of real text (median about 10 tokens) its backward pass was
#: 1.4-2x (fp32) and 7-14x (bf16) slower than the plain path, which holds only a (B,H,Tq,Tk) score
#: matrix that is small at these lengths. Measured with fwd+bwd, B*T = 3,600, H 4, D 64, 1 thread
#: (docs/benchmarks.md): fp32 crosses over between 48 and 96 keys, bf16 stays faster to 128.
CPU_PLAIN_ATTENTION_MAX_KEYS = {torch.float32: 64, torch.bfloat16: 128, torch.float16: 128}


def key_padding_bias(real: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B,S) bool, True at real keys -> (B,1,1,S) additive bias: 0 at real keys, -inf at pads.

    Built once per batch and shared by every layer; an additive bias in the compute dtype is
    what SDPA's kernels take without converting a boolean mask on every call.
    """
    bias = torch.zeros(real.shape, dtype=dtype, device=real.device)
    return bias.masked_fill_(~real, float("-inf"))[:, None, None, :]


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype attention runs in for activations ``x``: autocast's, when it is on."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


def plain_is_faster(q: torch.Tensor, k: torch.Tensor) -> bool:
    """Whether the plain path beats SDPA for these shapes (short keys on the CPU)."""
    if q.device.type != "cpu":
        return False
    return k.size(-2) <= CPU_PLAIN_ATTENTION_MAX_KEYS.get(q.dtype, 0)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    use_fused: bool | None = None,
) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) v for q (B,H,Tq,D), k and v (B,H,Tk,D) -> (B,H,Tq,D).

    ``mask`` is boolean (True where a query may attend) or an additive float bias,
    broadcastable to (B,H,Tq,Tk). ``causal`` aligns the causal triangle bottom-right: the last
    query sees every key. That is what a decoder with a KV cache needs (its Tq new queries
    follow Tk - Tq cached keys); for Tq == Tk it is the usual triangle. Every query row must
    be allowed at least one key. ``use_fused=None`` follows the module flag
    USE_FUSED_ATTENTION and, on the CPU, takes the plain path for short keys
    (:func:`plain_is_faster`); True forces SDPA, False the plain path.
    """
    if use_fused is None:
        use_fused = USE_FUSED_ATTENTION and not plain_is_faster(q, k)
    Tq, Tk = q.size(-2), k.size(-2)
    if causal and Tq == 1:
        causal = False  # a single newest query sees every key
    if not use_fused:
        return _plain_attention(q, k, v, mask, causal, dropout_p)
    if causal and (mask is not None or Tq != Tk):
        # SDPA's is_causal is top-left aligned and cannot be combined with attn_mask, so
        # fold the (bottom-right) triangle into the mask instead.
        mask = _with_future_masked(mask, Tq, Tk, q)
        causal = False
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal)


def _future(Tq: int, Tk: int, device) -> torch.Tensor:
    """(Tq,Tk) True where a query would see a key after it (bottom-right aligned)."""
    return torch.ones(Tq, Tk, dtype=torch.bool, device=device).triu(diagonal=Tk - Tq + 1)


def _with_future_masked(mask: torch.Tensor | None, Tq: int, Tk: int, q: torch.Tensor) -> torch.Tensor:
    future = _future(Tq, Tk, q.device)
    if mask is None:
        return ~future
    if mask.dtype == torch.bool:
        return mask & ~future
    return mask.masked_fill(future, float("-inf"))


def _plain_attention(q, k, v, mask, causal: bool, dropout_p: float) -> torch.Tensor:
    """Attention as batched matrix products; the softmax is taken in float32."""
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))  # (B,H,Tq,Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    if causal:
        scores = scores.masked_fill(_future(q.size(-2), k.size(-2), q.device), float("-inf"))
    probs = scores.softmax(dim=-1, dtype=torch.float32).to(v.dtype)
    if dropout_p > 0:
        probs = F.dropout(probs, p=dropout_p)
    return probs @ v  # (B,H,Tq,D)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE): rotates q and k so that q.k depends on m - n only.

    Uses the "rotate half" pairing (dimension i with i + D/2). cos/sin are computed per call
    from the positions, so there is no table to outgrow and cached decoding just passes the
    absolute positions of its new tokens.
    """

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)  # (D/2,)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions (T,) -> cos, sin each (T, D), in float32."""
        angles = positions.float()[:, None] * self.inv_freq[None, :]  # (T, D/2)
        angles = torch.cat((angles, angles), dim=-1)  # (T, D)
        return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (..., T, D) by the angles behind cos/sin (T, D).

    Computed in float32 even under autocast: bf16 holds cos/sin to about 3 digits, which
    would blur the relative-position property at longer lengths.
    """
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)  # each (..., T, D/2)
    rotated = torch.cat((-x2, x1), dim=-1)  # (..., T, D)
    return (xf * cos + rotated * sin).to(x.dtype)


class MultiHeadAttention(nn.Module):
    """Self-attention with a fused QKV projection, or cross-attention with Q and fused KV."""

    def __init__(self, config: TransformerConfig, cross: bool = False):
        super().__init__()
        C = config.d_model
        self.heads = config.heads
        self.cross = cross
        if cross:
            self.q = nn.Linear(C, C)
            self.kv = nn.Linear(C, 2 * C)
        else:
            self.qkv = nn.Linear(C, 3 * C)
        self.out = nn.Linear(C, C)
        self.attention_dropout = config.attention_dropout

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        return x.view(B, T, self.heads, C // self.heads).transpose(1, 2)  # (B,H,T,D)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B,T,C) -> (B,T,C), plus the (k, v) to cache, each (B,H,Tk,D).

        Self-attention: ``past`` holds the keys/values of earlier steps (already rotated); the
        new ones are appended. Cross-attention: ``past`` holds the memory's keys/values, which
        are then reused as they are, so they are computed once per source.
        """
        B, T, C = x.shape
        if self.cross:
            q = self._split_heads(self.q(x))
            if past is None:
                k, v = self.kv(memory).split(C, dim=2)  # each (B,S,C)
                k, v = self._split_heads(k), self._split_heads(v)  # each (B,H,S,D)
            else:
                k, v = past
        else:
            q, k, v = self.qkv(x).split(C, dim=2)  # each (B,T,C)
            q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
            if rotary is not None:
                q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
            if past is not None:
                k = torch.cat((past[0], k), dim=2)  # (B,H,Tpast+T,D)
                v = torch.cat((past[1], v), dim=2)
        dropout_p = self.attention_dropout if self.training else 0.0
        y = attention(q, k, v, mask=mask, causal=causal, dropout_p=dropout_p)  # (B,H,T,D)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B,T,C): heads side by side again
        return self.out(y), (k, v)
