"""``train.max_time`` ends a run at its budget with a final evaluation; ``train.log_every``
adds train_loss points between evaluations, never two on one step."""

from __future__ import annotations

import time

import pytest

from tfcli.spec.results import MAX_TIME_KEY, decode_points, encode_points, reached_end
from tfcli.train.loop import Trainer

pytestmark = pytest.mark.timeout(300)

LONG = "{lr: 3.0e-3, warmup_steps: 5, batch_tokens: 1024, max_steps: 100000, eval_every: 100000, max_time: %s, seed: 3}"


class Recorder:
    def __init__(self):
        self.evaluations = []

    def on_evaluation(self, evaluation):
        self.evaluations.append(evaluation)


def test_max_time_ends_the_run_with_a_final_evaluation_and_resumes_counting_the_time_spent(tiny_spec, tmp_path):
    recorder = Recorder()
    result = Trainer(tiny_spec("translation", train=LONG % "1.5s"), tmp_path / "a", callbacks=[recorder]).fit()
    assert 0 < result.steps < 100000
    assert result.max_time_reached and not result.stopped_early
    [final] = recorder.evaluations
    assert final.step == result.steps and final.metrics[MAX_TIME_KEY] == 1.0
    assert final.metrics["elapsed_s"] >= 1.5 and "bleu" in final.metrics
    assert result.best.checkpoint == final.checkpoint and final.checkpoint.is_dir()

    again = Recorder()
    trainer = Trainer(tiny_spec("translation", train=LONG % "3s"), tmp_path / "b", callbacks=[again], resume_from=final.checkpoint)
    started = time.perf_counter()
    resumed = trainer.fit()
    wall = time.perf_counter() - started
    assert resumed.max_time_reached and resumed.steps > result.steps
    elapsed = again.evaluations[-1].metrics["elapsed_s"]
    assert elapsed >= 3.0
    assert elapsed - final.metrics["elapsed_s"] <= wall + 0.1, "the resumed run did not count the time already spent"


def test_without_max_time_a_run_trains_to_max_steps(tiny_spec, tmp_path):
    recorder = Recorder()
    result = Trainer(tiny_spec("classification"), tmp_path, callbacks=[recorder]).fit()
    assert result.steps == 20 and not result.max_time_reached
    assert all(MAX_TIME_KEY not in e.metrics for e in recorder.evaluations)


def test_log_every_points_fall_between_evaluations(tiny_spec, tmp_path):
    spec = tiny_spec(
        "classification", train="{lr: 3.0e-3, warmup_steps: 2, batch_tokens: 512, max_steps: 20, eval_every: 10, log_every: 3}"
    )
    recorder = Recorder()
    Trainer(spec, tmp_path, callbacks=[recorder]).fit()
    first, second = recorder.evaluations
    assert [s for s, _ in first.train_points] == [3, 6, 9]
    assert [s for s, _ in second.train_points] == [12, 15, 18]
    history = sorted([(e.step, e.metrics["train_loss"]) for e in recorder.evaluations] + first.train_points + second.train_points)
    steps = [s for s, _ in history]
    assert len(steps) == len(set(steps)) >= spec.train.max_steps // spec.train.log_every
    assert all(loss > 0 for _, loss in history)


def test_points_travel_to_tune_as_one_string_and_come_back():
    points = [(3, 1.25), (6, 0.5)]
    assert decode_points({"train_loss_points": encode_points(points)}) == points
    assert decode_points({}) == [] and decode_points({"train_loss_points": "not json"}) == []


def test_reached_end_is_max_steps_or_the_time_budget():
    assert reached_end(100, 100) and reached_end(120, 100)
    assert not reached_end(40, 100) and not reached_end(None, 100) and not reached_end(40, None)
    assert reached_end(40, 100, {MAX_TIME_KEY: 1.0}) and not reached_end(40, 100, {"bleu": 3.0})
