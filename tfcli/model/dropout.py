"""Dropout whose CPU mask costs a fraction of ``torch.nn.Dropout``'s.

On the CPU, ``nn.Dropout`` draws one Bernoulli sample per element through the generic random
path (``bernoulli_``); on a d_model 256 Transformer trained on short sentences that was 12% of
the whole training step (docs/benchmarks.md), as much as a third of the matrix products. Here
one 64-bit random word gives four 16-bit lanes, each compared against a threshold: a quarter of
the random draws, and the rest is two elementwise passes. The drop probability is rounded to a
multiple of 1/65536 (0.1 becomes 0.100006) and the kept values are scaled by the exact
1 / (1 - p) of that rounded p, so the expectation is preserved exactly. On other devices (CUDA
has a fused dropout kernel) it is ``F.dropout``; in eval mode the identity.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

_LANES = 4  # 16-bit lanes in one 64-bit random word
_LANE_VALUES = 1 << 16


def lane_threshold(p: float) -> int:
    """The int16 value below which a lane drops its element, for drop probability ``p``."""
    return -(1 << 15) + round(p * _LANE_VALUES)


def effective_p(p: float) -> float:
    """The drop probability actually applied: ``p`` rounded to a multiple of 1/65536."""
    return round(p * _LANE_VALUES) / _LANE_VALUES


def random_lanes(shape: torch.Size, device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform int16 values of ``shape``, four to each draw of the 64-bit generator."""
    count = 1
    for size in shape:
        count *= size
    words = torch.empty((count + _LANES - 1) // _LANES, dtype=torch.int64, device=device)
    words.random_(-(1 << 63), None)  # the full 64-bit range: every lane uniform
    return words.view(torch.int16)[:count].view(shape)


def lane_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training-mode dropout of ``x`` with the lane mask (differentiable)."""
    q = effective_p(p)
    if q <= 0.0:
        return x
    if q >= 1.0:
        return x * 0.0
    keep = random_lanes(x.shape, x.device) >= lane_threshold(p)
    scale = torch.tensor(1.0 / (1.0 - q), dtype=x.dtype, device=x.device)
    return x * torch.where(keep, scale, torch.zeros((), dtype=x.dtype, device=x.device))


class Dropout(nn.Module):
    """Drop-in for ``nn.Dropout`` (no parameters, same state dict): the lane mask on the CPU."""

    def __init__(self, p: float = 0.1):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], but got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        return lane_dropout(x, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
