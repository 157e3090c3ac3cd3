"""One optimizer step, shared by the training loop and ``benchmarks/throughput.py``.

Kept apart from :class:`tfcli.train.loop.Trainer` so that the benchmark times exactly the code a
trial runs (forward and loss under the placement's autocast, backward, clipping, AdamW) and
not a copy of it that could drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass
class StepOutcome:
    loss_sum: float  # summed loss over every batch of the step
    targets: int  # what the loss is averaged over (target tokens or examples)
    tokens: int  # real (non-pad) tokens of the step

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.targets, 1)


def make_optimizer(model, *, lr: float, weight_decay: float, betas: tuple[float, float], device: str):
    """AdamW with weight decay on matrices only (not on biases, norms or 1-d parameters).

    Fused (one kernel over all parameters) on the CPU and on CUDA: torch's default on the CPU
    is a Python loop over the parameters, about 3x slower for this model (docs/benchmarks.md).
    """
    import torch

    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim < 2 or "norm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=1e-9, fused=device in ("cpu", "cuda"))


class StepRunner:
    """Runs optimizer steps: ``runner(batches)`` accumulates gradients over ``batches`` and steps.

    ``loss_fn(model, batch)`` returns the summed loss of a batch; ``n_targets(batch)`` what it
    is summed over, so that a step with several batches (gradient accumulation) averages over
    all of their targets; ``n_tokens(batch)`` the real tokens, for throughput.
    """

    def __init__(
        self,
        model,
        optimizer,
        placement,
        *,
        loss_fn: Callable[[Any, Any], Any],
        n_targets: Callable[[Any], int],
        n_tokens: Callable[[Any], int],
        grad_clip: float,
        scaler=None,
    ):
        import torch

        self.model = model
        self.optimizer = optimizer
        self.placement = placement
        self.loss_fn = loss_fn
        self.n_targets = n_targets
        self.n_tokens = n_tokens
        self.grad_clip = grad_clip
        self.scaler = scaler or torch.amp.GradScaler("cuda", enabled=False)

    def __call__(self, batches: Sequence[Any]) -> StepOutcome:
        import torch

        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total_targets = sum(self.n_targets(batch) for batch in batches)
        loss_sum, tokens = 0.0, 0
        for batch in batches:
            with self.placement.autocast():
                loss = self.loss_fn(self.model, batch)
            self.scaler.scale(loss / total_targets).backward()
            loss_sum += float(loss.detach())
            tokens += self.n_tokens(batch)
        outcome = StepOutcome(loss_sum, total_targets, tokens)
        if not math.isfinite(outcome.mean_loss):
            return outcome  # the caller raises; stepping would only spread the NaNs
        if self.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return outcome
