"""Issue 13: what `tfcli study confirm` plans, and its refusals in one line."""

from __future__ import annotations

import pytest

from tests.study.conftest import make_spec
from tfcli.errors import StudyError
from tfcli.records import Confirmation, TrialRecord, TrialStatus
from tfcli.study.confirm import merge_plans, owed, plan_confirmations

pytestmark = pytest.mark.timeout(60)


def record(trial_id, value, status=TrialStatus.FINISHED, lr=1e-3):
    return TrialRecord(study="tiny", study_id="s", trial_id=trial_id, run_id=trial_id, status=status,
                       config={"train.lr": lr}, objective_metric="bleu", objective_mode="max", objective_value=value)


SPEC = make_spec(search={"parameters": {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}}})
RECORDS = [record("t0", 10.0, lr=1e-3), record("t1", 30.0, lr=2e-3), record("t2", 20.0, lr=3e-3), record("t3", 99.0, TrialStatus.FAILED)]


def test_the_top_trials_by_the_objective_get_fresh_seeds():
    plan = plan_confirmations(SPEC, RECORDS, top=2, seeds=3)
    assert [(e["confirms"], e["seed"]) for e in plan] == [("t1", 2), ("t1", 3), ("t1", 4), ("t2", 2), ("t2", 3), ("t2", 4)]
    assert plan[0]["config"] == {"train.lr": 2e-3, "train.seed": 2}, "the trial's searched values and a seed it did not train with"


def test_more_top_trials_than_finished_is_refused_with_the_count():
    with pytest.raises(StudyError, match=r"--top 4 and study 'tiny' has 3"):
        plan_confirmations(SPEC, RECORDS, top=4, seeds=2)


def test_fewer_than_two_seeds_is_refused():
    with pytest.raises(StudyError, match="--seeds must be at least 2"):
        plan_confirmations(SPEC, RECORDS, top=1, seeds=1)


def test_confirming_again_adds_only_what_is_not_covered():
    first = plan_confirmations(SPEC, RECORDS, top=1, seeds=2)
    merged = merge_plans(first, plan_confirmations(SPEC, RECORDS, top=2, seeds=3))
    assert len(merged) == 6 and merged[:2] == first
    done = [Confirmation(record(f"c{e['seed']}", 1.0), e["confirms"], e["seed"]) for e in first]
    assert [(e["confirms"], e["seed"]) for e in owed(merged, done)] == [("t1", 4), ("t2", 2), ("t2", 3), ("t2", 4)]
