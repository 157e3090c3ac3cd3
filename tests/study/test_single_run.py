"""``train_and_track``: the single run of ``tfcli train`` as a library call, without the CLI."""

from __future__ import annotations

import pytest

from tests.train.conftest import tiny_spec_text
from tfcli.spec.load import load_spec_text
from tfcli.spec.overrides import apply_overrides, parse_set_options
from tfcli.study.single_run import train_and_track
from tfcli.tracking import check_tracking, resolve_tracking

pytestmark = pytest.mark.timeout(300)


class Seen:
    """A display: told the trainer once it is built, then each evaluation."""

    def __init__(self):
        self.started, self.steps = None, []

    def on_start(self, trainer) -> None:
        self.started = trainer

    def on_evaluation(self, evaluation) -> bool:
        self.steps.append(evaluation.step)
        return False


def test_one_run_is_trained_and_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = apply_overrides(load_spec_text(tiny_spec_text("classification")), parse_set_options(["train.max_steps=6", "train.eval_every=3"]))
    tracking = check_tracking(resolve_tracking(f"sqlite:///{tmp_path}/mlruns/mlflow.db"))
    seen = Seen()
    run = train_and_track(spec, tracking, tmp_path / "work", callbacks=[seen], evaluate_test=False)
    assert seen.started is not None and seen.steps == [3, 6]
    assert run.result.steps == 6 and not run.result.test_metrics
    client = tracking.client()
    stored = client.get_run(run.run_id)
    assert stored.info.status == "FINISHED" and stored.info.run_name == "train-work"
    assert stored.data.params["train.max_steps"] == "6" and "train.device_resolved" in stored.data.params
    assert sorted(m.step for m in client.get_metric_history(run.run_id, "accuracy")) == [3, 6]
    assert stored.data.tags["tfcli.checkpoint_step"] == str(run.result.best.step)
    assert "checkpoint/model.safetensors" in {a.path for a in client.list_artifacts(run.run_id, "checkpoint")}
