"""The training loop without Ray: every task trains, evaluates, checkpoints and resumes."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tfcli.errors import DivergedError
from tfcli.train.checkpoint import CONFIG_FILE, MODEL_FILE, OUTPUTS_FILE, STATE_FILE, TOKENIZER_FILE
from tfcli.train.loop import Trainer

pytestmark = pytest.mark.timeout(300)


class Recorder:
    def __init__(self):
        self.losses: dict[int, float] = {}
        self.evaluations = []

    def on_step(self, step, loss, tokens_per_s, lr):
        self.losses[step] = loss

    def on_evaluation(self, evaluation):
        self.evaluations.append(evaluation)


@pytest.mark.parametrize("task", ["translation", "summarization", "classification", "qa"])
def test_every_task_trains_evaluates_and_checkpoints(tiny_spec, tmp_path, task):
    spec = tiny_spec(task)
    recorder = Recorder()
    trainer = Trainer(spec, tmp_path, callbacks=[recorder], evaluate_test=True)
    result = trainer.fit()
    assert result.steps == 20
    assert [e.step for e in recorder.evaluations] == [10, 20]
    metrics = recorder.evaluations[-1].metrics
    assert spec.primary_objective.metric in metrics and "loss" in metrics and "train_loss" in metrics
    assert all(math.isfinite(v) for v in metrics.values())
    checkpoint = result.best.checkpoint
    for name in (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE, OUTPUTS_FILE, STATE_FILE):
        assert (checkpoint / name).is_file(), name
    outputs = [json.loads(line) for line in (checkpoint / OUTPUTS_FILE).read_text().splitlines()]
    assert len(outputs) == 16 and all("prediction" in o for o in outputs)
    assert json.loads((checkpoint / CONFIG_FILE).read_text())["task"] == task
    assert set(result.test_metrics) >= {spec.primary_objective.metric, "loss"}
    assert result.parameters > 0
    first, last = recorder.losses[1], recorder.losses[20]
    assert last < first, (first, last)


def test_checkpoint_resumes_to_the_same_loss_curve(tiny_spec, tmp_path):
    spec = tiny_spec("translation")
    straight = Recorder()
    Trainer(spec, tmp_path / "a", callbacks=[straight], keep_checkpoints=10).fit()

    resumed = Recorder()
    trainer = Trainer(spec, tmp_path / "b", callbacks=[resumed], resume_from=tmp_path / "a" / "checkpoint-0000010")
    assert trainer.step == 10
    trainer.fit()
    assert sorted(resumed.losses) == list(range(11, 21))
    for step in range(11, 21):
        assert resumed.losses[step] == pytest.approx(straight.losses[step], rel=1e-5, abs=1e-6), step
    assert resumed.evaluations[-1].metrics["bleu"] == pytest.approx(straight.evaluations[-1].metrics["bleu"])


def test_old_checkpoints_are_pruned_but_best_and_last_kept(tiny_spec, tmp_path):
    spec = tiny_spec("classification", train="{lr: 3.0e-3, batch_tokens: 1024, max_steps: 40, eval_every: 10}")
    trainer = Trainer(spec, tmp_path)
    result = trainer.fit()
    kept = sorted(p.name for p in tmp_path.glob("checkpoint-*"))
    expected = {result.best.checkpoint.name, "checkpoint-0000040"}
    assert set(kept) == expected


def test_nan_loss_stops_with_a_diverged_error(tiny_spec, tmp_path):
    trainer = Trainer(tiny_spec("translation"), tmp_path)
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    with pytest.raises(DivergedError, match="diverged at step 1"):
        trainer.fit()


def test_a_stop_request_ends_the_run(tiny_spec, tmp_path):
    class StopAtFirst(Recorder):
        def on_evaluation(self, evaluation):
            super().on_evaluation(evaluation)
            return True

    result = Trainer(tiny_spec("translation"), tmp_path, callbacks=[StopAtFirst()]).fit()
    assert result.steps == 10 and result.stopped_early


def test_gradient_accumulation_and_schedules_run(tiny_spec, tmp_path):
    for schedule in ("cosine", "linear", "constant"):
        spec = tiny_spec(
            "classification",
            train=f"{{lr: 3.0e-3, schedule: {schedule}, warmup_steps: 2, grad_accum: 2, batch_tokens: 512, max_steps: 10, eval_every: 10}}",
        )
        result = Trainer(spec, tmp_path / schedule).fit()
        assert result.steps == 10


def test_every_evaluation_logs_the_trial_costs(tiny_spec, tmp_path):
    from tfcli.spec.tasks import COST_METRICS, LOWER_IS_BETTER

    recorder = Recorder()
    result = Trainer(tiny_spec("translation"), tmp_path, callbacks=[recorder], keep_checkpoints=10).fit()
    first, last = (e.metrics for e in recorder.evaluations)
    assert set(COST_METRICS) <= set(last)
    assert last["parameters"] == result.parameters > 0
    assert 0 < first["train_time_s"] < last["train_time_s"] < last["elapsed_s"]
    assert last["decode_ms_per_example"] > 0 and last["tokens_per_s"] > 0
    assert last["peak_memory_mb"] > 50  # a Python process with torch loaded
    assert {"parameters", "train_time_s", "decode_ms_per_example", "peak_memory_mb"} <= LOWER_IS_BETTER

    resumed = Recorder()
    Trainer(tiny_spec("translation"), tmp_path / "b", callbacks=[resumed], resume_from=recorder.evaluations[0].checkpoint).fit()
    assert resumed.evaluations[-1].metrics["train_time_s"] > first["train_time_s"], "training time restarts from 0 on resume"
