"""Learning-rate schedules, as multipliers of ``train.lr`` by optimizer step."""

from __future__ import annotations

import math


def lr_factor(schedule: str, step: int, warmup_steps: int, max_steps: int) -> float:
    """The multiplier of the peak learning rate at optimizer step ``step`` (1-based).

    ``inverse_sqrt`` is the original Transformer's schedule, rescaled so that the peak (at the
    end of warm-up) is exactly ``train.lr``; ``cosine`` and ``linear`` decay to 0 at
    ``max_steps``; ``constant`` holds after warm-up.
    """
    step = max(step, 1)
    if warmup_steps > 0 and step <= warmup_steps:
        return step / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "inverse_sqrt":
        return math.sqrt(max(warmup_steps, 1) / step)
    span = max(max_steps - warmup_steps, 1)
    progress = min(max((step - warmup_steps) / span, 0.0), 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "linear":
        return 1.0 - progress
    raise ValueError(f"unknown schedule {schedule!r}")
