"""Issue 24: the trials a study scores on the test split are the report's top K, ties broken
by the one rule (lower validation loss, then earlier step), not by the order they started."""

from __future__ import annotations

import dataclasses

import pytest

from tests.report.test_ranking import record
from tests.study.conftest import make_spec
from tfcli.study.held_out import runs_to_score

pytestmark = pytest.mark.timeout(30)


def test_the_top_k_on_a_tie_are_the_lower_validation_losses():
    spec = make_spec(objective={"metric": "bleu", "mode": "max"})
    records = [
        dataclasses.replace(record(t, objective_value=v, objective_step=10), checkpoint_uri=f"ckpt-{t}")
        for t, v in (("t0", 30.0), ("t1", 0.0), ("t2", 0.0), ("t3", 0.0))
    ]
    losses = {"run-t1": 2.5, "run-t2": 2.4, "run-t3": 1.9}
    picked = runs_to_score(spec, records, [], 2, losses)
    assert [r.trial_id for r in picked] == ["t0", "t3"]
    assert [r.trial_id for r in runs_to_score(spec, records, [], 3, losses)] == ["t0", "t3", "t2"]
