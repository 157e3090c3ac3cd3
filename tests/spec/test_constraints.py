"""``search.constraints`` in the study file: a constraint that does not parse, names a metric the
task's trials never log, or sits under a method whose sampler has no constraint support is one
line with FILE:LINE and the field, exit code 2; the valid ones load, and a :class:`Constraint`
says how far a trial's metrics break it (Optuna's convention: ``<= 0`` holds)."""

from __future__ import annotations

import math
import textwrap

import pytest

from tests.spec.one_problem import assert_one_problem

from tfcli.records import TrialRecord, TrialStatus
from tfcli.report.ranking import rank_trials
from tfcli.spec.constraints import Constraint, broken, constraints_of, measured, parse_constraint, refused_result, violations
from tfcli.spec.load import load_spec_text
from tfcli.spec.objective import Objective, rank_records

pytestmark = pytest.mark.timeout(60)

VALID = textwrap.dedent(
    """\
    name: demo
    task: {type: translation, data: 'builtin:dates'}
    objective: {metric: bleu}
    search:
      method: tpe
      constraints:
        - decode_ms_per_example <= 5
        - parameters <= 2e6
        - loss >= 0.1
    """
)

BROKEN = [
    ("unknown-metric", VALID.replace("loss >= 0.1", "blue >= 0.1"), 9, "search.constraints.2",
     "task translation does not log metric 'blue'; did you mean 'bleu'?"),
    ("another-task's-metric", VALID.replace("loss >= 0.1", "accuracy >= 50"), 9, "search.constraints.2",
     "does not log metric 'accuracy'"),
    ("no-operator", VALID.replace("parameters <= 2e6", "parameters < 2e6"), 8, "search.constraints.1",
     "a constraint reads METRIC <= BOUND or METRIC >= BOUND"),
    ("bound-not-a-number", VALID.replace("parameters <= 2e6", "parameters <= two"), 8, "search.constraints.1",
     "must be a number"),
    ("infinite-bound", VALID.replace("parameters <= 2e6", "parameters <= inf"), 8, "search.constraints.1",
     "must be a finite number"),
    ("not-a-string", VALID.replace("- loss >= 0.1", "- {loss: 0.1}"), 9, "search.constraints.2", "valid string"),
    ("random-has-no-constraint-support", VALID.replace("method: tpe", "method: random"), 6, "search.constraints",
     "search.method random has no constraint support (Optuna's is in tpe, gp, nsga2)"),
    ("cmaes-has-none-either", VALID.replace("method: tpe", "method: cmaes"), 6, "search.constraints",
     "search.method cmaes has no constraint support"),
]


@pytest.mark.parametrize("text,line,path,phrase", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_a_bad_constraint_exits_2_with_line_and_path(cli, tmp_path, text, line, path, phrase):
    assert_one_problem(cli, tmp_path, text, line, path, phrase)


@pytest.mark.parametrize("method", ["tpe", "gp", "nsga2"])
def test_the_valid_constraints_load(method):
    spec = load_spec_text(VALID.replace("method: tpe", f"method: {method}"), "demo.yaml")
    assert constraints_of(spec.search.constraints) == [
        Constraint("decode_ms_per_example", "<=", 5.0), Constraint("parameters", "<=", 2e6), Constraint("loss", ">=", 0.1)
    ]


def test_violation_is_optunas_convention_and_broken_names_the_values():
    at_most, at_least = parse_constraint("parameters<=50000"), parse_constraint(" loss >= 0.5 ")
    assert at_most.violation(60000) == 10000 and at_most.violation(50000) == 0 and at_most.violation(40000) < 0
    assert at_least.violation(0.25) == 0.25 and at_least.violation(1.0) < 0
    metrics = {"parameters": 61234.0, "loss": 0.75}
    assert violations([at_most, at_least], metrics) == [11234.0, -0.25]
    assert violations([at_most], {}) == [0.0]  # a failed trial's last report carries no costs
    assert broken([at_most, at_least], metrics) == "parameters <= 50000 (parameters=61234)"
    assert broken([at_most, at_least], {"parameters": 1.0, "loss": 0.1}, only=("parameters",)) == ""
    assert broken([at_most, at_least], {"parameters": 1.0, "loss": 0.1}) == "loss >= 0.5 (loss=0.1)"


def _trial(trial_id: str, value: float, infeasible: str | None = None) -> TrialRecord:
    return TrialRecord(
        study="s", study_id="s", trial_id=trial_id, run_id=f"run-{trial_id}", status=TrialStatus.FINISHED,
        objective_metric="bleu", objective_mode="max", objective_value=value, objective_step=10, infeasible=infeasible,
    )


def test_the_one_ranking_puts_infeasible_trials_after_every_feasible_one():
    trials = [_trial("a", 30.0, "loss >= 5 (loss=4.6)"), _trial("b", 10.0), _trial("c", 20.0), _trial("d", 40.0, "parameters <= 50000 (parameters=80256)")]
    objective = Objective("bleu", "max")
    assert [r.trial_id for r in rank_records(trials, objective)] == ["c", "b", "d", "a"]
    assert objective.best(trials, key=lambda r: (r.objective_value, None, None), infeasible=lambda r: r.infeasible).trial_id == "c"
    assert objective.best(trials[::3], key=lambda r: (r.objective_value, None, None), infeasible=lambda r: r.infeasible) is None
    ranking = rank_trials(trials, "bleu", "max")
    assert [row.trial_id for row in ranking.ranked] == ["c", "b"] and [row.trial_id for row in ranking.apart] == ["a", "d"]


def test_a_configuration_over_a_pre_training_limit_is_refused_with_one_report():
    spec = load_spec_text(VALID.replace("decode_ms_per_example <= 5", "parameters <= 50000"), "demo.yaml")
    refused = refused_result(spec, {"parameters": 80256})
    assert refused == {"step": 0, "bleu": -math.inf, "parameters": 80256.0, "tfcli_infeasible": "parameters <= 50000 (parameters=80256)"}
    assert measured(spec, refused) == {"step": 0, "parameters": 80256.0, "tfcli_infeasible": refused["tfcli_infeasible"]}
    assert refused_result(spec, {"parameters": 10944}) is None  # loss >= 0.1 is judged after training, not before
