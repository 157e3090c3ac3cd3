"""The shared training step, the fused optimizer, and the trainer's prefetched batch order."""

from __future__ import annotations

import threading

import pytest
import torch

from tfcli.train.device import Placement
from tfcli.train.loop import Trainer
from tfcli.train.step import StepRunner, make_optimizer

pytestmark = pytest.mark.timeout(120)


def _runner(model, loss_fn):
    optimizer = make_optimizer(model, lr=1e-2, weight_decay=0.1, betas=(0.9, 0.98), device="cpu")
    return StepRunner(
        model, optimizer, Placement("cpu", "fp32"), loss_fn=loss_fn, n_targets=lambda b: len(b), n_tokens=lambda b: len(b), grad_clip=1.0
    )


def test_optimizer_is_fused_and_decays_matrices_only():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    optimizer = make_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.98), device="cpu")
    assert all(group["fused"] for group in optimizer.param_groups)
    decayed, plain = optimizer.param_groups
    assert [p.shape for p in decayed["params"]] == [(4, 4)] and decayed["weight_decay"] == 0.1
    assert len(plain["params"]) == 3 and plain["weight_decay"] == 0.0


def test_a_step_averages_over_every_batch_and_moves_the_weights():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    before = model.weight.detach().clone()
    runner = _runner(model, lambda m, batch: m(batch).pow(2).sum())
    outcome = runner([torch.randn(4, 3), torch.randn(2, 3)])
    assert outcome.targets == 6 and outcome.tokens == 6
    assert outcome.mean_loss == pytest.approx(outcome.loss_sum / 6)
    assert not torch.equal(model.weight, before)


def test_a_diverged_step_leaves_the_weights_alone():
    model = torch.nn.Linear(3, 1)
    before = model.weight.detach().clone()
    outcome = _runner(model, lambda m, batch: m(batch).sum() * float("nan"))([torch.randn(2, 3)])
    assert outcome.mean_loss != outcome.mean_loss  # NaN, for the trainer to raise on
    assert torch.equal(model.weight, before)


def test_batch_plan_resumes_mid_epoch_and_crosses_into_the_next(tiny_spec, tmp_path):
    trainer = Trainer(tiny_spec("translation"), tmp_path)
    epoch0 = trainer._batches_of_epoch(0)
    plan = trainer._batch_plan(0, len(epoch0) - 1)
    assert next(plan) == (0, len(epoch0), epoch0[-1])
    assert next(plan) == (1, 1, trainer._batches_of_epoch(1)[0])


def test_fit_consumes_prefetched_batches_in_order_and_stops_the_thread(tiny_spec, tmp_path):
    spec = tiny_spec("translation", train="{lr: 3.0e-3, warmup_steps: 1, batch_tokens: 1024, max_steps: 4, eval_every: 4, seed: 3}")
    trainer = Trainer(spec, tmp_path)
    expected, consumed = (0, 0), 0
    for epoch in range(3):  # where 4 steps end, walking the plan by hand
        for position in range(1, len(trainer._batches_of_epoch(epoch)) + 1):
            if consumed < 4:
                expected, consumed = (epoch, position), consumed + 1
    trainer.fit()
    assert (trainer.epoch, trainer.batch_in_epoch) == expected
    assert trainer._stream is None
    assert not any(t.name == "tfcli-prefetch" and t.is_alive() for t in threading.enumerate())
