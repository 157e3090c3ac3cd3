"""tfcli.records, and the records tfcli.tracking builds from a real MLflow store."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime
from pathlib import Path

import pytest

from tests.tracking.test_tracking import FakeTrial, _empty_store_db, drive, make_spec, store  # noqa: F401 - fixtures
from tfcli import tracking as tr
from tfcli.errors import StudyError
from tfcli.records import MetricBest, StudyRecord, TrialRecord, TrialStatus
from tfcli.spec.objective import best_point, better
from tfcli.tracking.callback import StudyTracker


@pytest.mark.timeout(10)
def test_status_and_better():
    assert TrialStatus.from_mlflow("FINISHED") is TrialStatus.FINISHED
    assert TrialStatus.from_mlflow("SCHEDULED") is TrialStatus.RUNNING
    assert not TrialStatus.RUNNING.is_done and TrialStatus.KILLED.is_done
    assert better(2.0, 1.0, "max") and better(1.0, 2.0, "min") and not better(1.0, 1.0, "max")
    assert better(1.0, math.nan, "max") and not better(math.nan, 1.0, "min") and better(0.0, None, "min")
    assert not better(math.inf, 1.0, "max") and not better(-math.inf, 1.0, "min") and better(1.0, -math.inf, "max")
    assert best_point([(10, 2.0), (20, 3.0), (30, 3.0), (40, math.nan)], "max") == MetricBest(3.0, 20)
    assert best_point([(10, math.inf)], "min") is None


@pytest.mark.timeout(10)
def test_records_are_frozen_and_json_friendly():
    record = TrialRecord(
        study="s", study_id="id", trial_id="t", run_id="r", status=TrialStatus.FINISHED,
        metrics={"bleu": 1.0, "loss": math.inf}, best={"bleu": MetricBest(2.0, 20)},
        start_time=datetime(2025, 1, 1),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = TrialStatus.FAILED
    data = json.loads(json.dumps(record.to_dict()))
    assert data["status"] == "FINISHED" and data["metrics"] == {"bleu": 1.0, "loss": None}
    assert data["best"] == {"bleu": {"value": 2.0, "step": 20}} and data["start_time"] == "2025-01-01T00:00:00"
    study = StudyRecord(name="s", study_id="id", run_id="r", experiment_id="1", status="RUNNING",
                        counts={"RUNNING": 1, "FINISHED": 2})
    assert study.n_trials == 3 and json.loads(json.dumps(study.to_dict()))["trials"] == 3


@pytest.mark.timeout(60)
def test_trial_records_round_trip(store, tmp_path):
    spec = make_spec("records", model={"d_model": 64})
    tracker = StudyTracker(store, spec, "study-records")
    tracker.setup()
    good = FakeTrial("r_00000", {"train.lr": 0.002, "model.heads": 8})
    bad = FakeTrial("r_00001", {"train.lr": 0.0001, "model.heads": 2})
    error_file = tmp_path / "error.txt"
    error_file.write_text("Failure # 1\nTraceback (most recent call last):\nRuntimeError: out of memory\n")
    bad.error_file = str(error_file)
    for trial in (good, bad):
        tracker.on_trial_start(trial=trial)
    # bleu peaks at step 30 then falls; loss keeps falling
    drive(tracker, good, [10, 20, 30, 40], tmp_path, metric=lambda s: {10: 1.0, 20: 4.0, 30: 9.0, 40: 7.0}[s])
    drive(tracker, bad, [10], tmp_path, checkpoint=False)
    tracker.on_trial_complete(trial=good)
    tracker.on_trial_error(trial=bad)
    tracker.on_experiment_end(trials=[good, bad])

    records = {r.trial_id: r for r in tr.trial_records(store, "records")}
    assert sorted(records) == ["r_00000", "r_00001"]
    rec = records["r_00000"]
    assert rec.study == "records" and rec.study_id == "study-records" and rec.status is TrialStatus.FINISHED
    assert rec.params["train.lr"] == 0.002 and rec.params["model.heads"] == 8 and rec.params["model.d_model"] == 64
    assert rec.params["model.tie_embeddings"] is True and rec.params["eval.max_examples"] is None
    assert rec.params["data.tokenizer"] == "bpe" and rec.params["eval.bleu_tokenize"] == "13a"
    assert rec.config == {"train.lr": 0.002, "model.heads": 8} and rec.final_config == rec.config
    assert rec.metrics == {"bleu": 7.0, "loss": 1 / 40}
    assert rec.best == {"bleu": MetricBest(9.0, 30), "loss": MetricBest(1 / 40, 40)}
    assert (rec.objective_metric, rec.objective_mode, rec.objective_value, rec.objective_step) == ("bleu", "max", 9.0, 30)
    assert rec.checkpoint_step == 30 and rec.last_step == 40 and not rec.stopped_early and rec.error is None
    checkpoint = Path(rec.checkpoint_uri)
    assert (checkpoint / tr.VALID_OUTPUTS_FILE).read_text().strip() == '{"step": 30}'
    assert rec.start_time <= rec.end_time and rec.duration_s == (rec.end_time - rec.start_time).total_seconds()

    failed = records["r_00001"]
    assert failed.status is TrialStatus.FAILED and failed.error == "RuntimeError: out of memory"
    assert failed.checkpoint_uri is None and failed.objective_value == 1.0 and failed.objective_step == 10
    json.dumps([r.to_dict() for r in records.values()])

    fast = {r.trial_id: r for r in tr.trial_records(store, "records", history=False)}
    assert fast["r_00000"].best == {} and fast["r_00000"].objective_value == 9.0

    (study,) = tr.list_studies(store)
    assert study == tr.study_record(store, "records")
    assert (study.name, study.study_id, study.status, study.task) == ("records", "study-records", "FINISHED", "translation")
    assert study.counts == {"RUNNING": 0, "FINISHED": 1, "FAILED": 1, "KILLED": 0}
    assert study.states == {"running": 0, "finished": 1, "stopped": 0, "failed": 1, "killed": 0}
    assert (study.best_trial_id, study.best_value) == ("r_00000", 9.0)
    assert json.loads(study.spec_json)["model"]["d_model"] == 64
    assert study.run_id == tr.find_study(store, "records").info.run_id == tr.parent_run_id(store, "study-records")
    assert [r.info.run_id for r in tr.study_runs(store, "study-records")] == [
        records["r_00000"].run_id, records["r_00001"].run_id]

    with pytest.raises(StudyError, match="no study named 'nope'"):
        tr.trial_records(store, "nope")
    assert tr.find_study(store, "nope") is None and tr.study_record(store, "nope") is None
