"""``budget.target`` and ``budget.patience`` in the study file: a target on a metric the task does
not log, or one its metric can never reach (or always reaches) in the direction the study ranks
it, is one line with FILE:LINE and the field, exit code 2; the valid ones load."""

from __future__ import annotations

import textwrap

import pytest

from tests.spec.one_problem import assert_one_problem

from tfcli.spec.load import load_spec_text

pytestmark = pytest.mark.timeout(60)

VALID = textwrap.dedent(
    """\
    name: demo
    task: {type: translation, data: 'builtin:dates'}
    objective: {metric: bleu}
    budget:
      patience: 5
      target:
        metric: bleu
        value: 30
    """
)

BROKEN = [
    ("unknown-metric", VALID.replace("metric: bleu\n    value", "metric: blue\n    value"), 7,
     "budget.target.metric", "does not produce metric 'blue'; did you mean 'bleu'?"),
    ("beyond-the-best-value", VALID.replace("value: 30", "value: 130"), 8,
     "budget.target.value", "bleu is maximised and its best possible value is 100, so a target of 130 can never be reached"),
    ("a-loss-below-zero", VALID.replace("metric: bleu\n    value: 30", "metric: loss\n    value: -0.5"), 8,
     "budget.target.value", "loss is minimised and its best possible value is 0, so a target of -0.5 can never be reached"),
    ("always-reached", VALID.replace("value: 30", "value: 0"), 8,
     "budget.target.value", "bleu is maximised and never worse than 0, so every evaluation reaches a target of 0"),
    ("the-objectives-own-direction", VALID.replace("objective: {metric: bleu}", "objective: {metric: ter}").replace(
        "metric: bleu\n    value: 30", "metric: ter\n    value: -3"), 8, "budget.target.value", "ter is minimised"),
    ("patience-zero", VALID.replace("patience: 5", "patience: 0"), 5, "budget.patience", "greater than or equal to 1"),
]


@pytest.mark.parametrize("text,line,path,phrase", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_a_bad_budget_exits_2_with_line_and_path(cli, tmp_path, text, line, path, phrase):
    assert_one_problem(cli, tmp_path, text, line, path, phrase)


def test_the_valid_budget_loads():
    spec = load_spec_text(VALID, "demo.yaml")
    assert (spec.budget.patience, spec.budget.target.metric, spec.budget.target.value) == (5, "bleu", 30.0)
    loss = load_spec_text(VALID.replace("metric: bleu\n    value: 30", "metric: loss\n    value: 1.5"), "demo.yaml")
    assert loss.budget.target.metric == "loss"
