"""Attention: the scaled dot-product kernel, rotary positions and multi-head attention.

Shapes as in :mod:`tfcli.model.transformer`. Boolean masks mean "may attend" (True) and are
passed to SDPA as booleans.
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

    ``mask`` is boolean, True where a query may attend, broadcastable to (B,H,Tq,Tk).
    ``causal`` aligns the causal triangle bottom-right: the last query sees every key. That
    is what a decoder with a KV cache needs (its Tq new queries follow Tk - Tq cached keys);
    for Tq == Tk it is the usual triangle. Every query row must be allowed at least one key.
    ``use_fused=None`` follows the module flag USE_FUSED_ATTENTION.
    """
    if use_fused is None:
        use_fused = USE_FUSED_ATTENTION
    Tq, Tk = q.size(-2), k.size(-2)
    if causal and Tq == 1:
        causal = False  # a single newest query sees every key
    if causal and (mask is not None or Tq != Tk):
        # SDPA's is_causal is top-left aligned and cannot be combined with attn_mask, so
        # fold the (bottom-right) triangle into the mask instead.
        tri = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril(diagonal=Tk - Tq)
        mask = tri if mask is None else mask & tri
        causal = False
    if use_fused:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal
        )
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (B,H,Tq,Tk)
    if causal:
        mask = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = F.dropout(scores.softmax(dim=-1), p=dropout_p)
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
