"""W&B sweep words: identical meanings are accepted, the others name the tfcli field."""

from __future__ import annotations

import pytest

from tfcli.spec.load import check_spec_text, load_spec_text

BASE = "name: wb\ntask: {type: translation, data: 'builtin:dates'}\n"


def test_identical_wandb_words_are_aliases():
    spec = load_spec_text(
        BASE
        + "objective: [{metric: bleu, goal: maximize}, {metric: decode_ms_per_example, goal: minimize}]\n"
        + "search:\n  parameters:\n"
        + "    train.lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2}\n"
        + "    train.warmup_steps: {distribution: q_log_uniform_values, min: 8, max: 512, q: 8}\n"
        + "    model.d_model: {distribution: categorical, values: [32, 64]}\n"
    )
    params = spec.search.parameters
    assert params["train.lr"].distribution == "log_uniform" and (params["train.lr"].min, params["train.lr"].max) == (1e-4, 1e-2)
    assert params["train.warmup_steps"].distribution == "q_log_uniform"
    assert params["model.d_model"].kind == "values" and params["model.d_model"].values == [32, 64]
    assert [(o.metric, o.mode) for o in spec.objectives] == [("bleu", "max"), ("decode_ms_per_example", "min")]


def test_a_goal_that_is_not_a_direction_is_refused_at_its_line():
    _, problems = check_spec_text(BASE + "objective:\n  metric: bleu\n  goal: up\n", "s.yaml")
    assert [(p.line, p.path) for p in problems] == [(5, "objective.mode")], problems
    assert "'max' or 'min'" in problems[0].message


@pytest.mark.parametrize(
    "text, line, path, hint",
    [
        ("metric: {name: bleu, goal: maximize}\n", 3, "metric", "objective: {metric: NAME, mode: max|min}"),
        ("early_terminate: {type: hyperband, min_iter: 3}\n", 3, "early_terminate", "scheduler: {type: hyperband}"),
        ("run_cap: 20\n", 3, "run_cap", "search.num_samples"),
        ("program: train.py\n", 3, "program", "no program"),
        ("method: bayes\n", 3, "method", "under search:"),
        ("search: {method: bayes}\n", 3, "search.method", "use method: tpe"),
    ],
)
def test_wandb_words_without_an_identical_meaning_get_a_hint(text, line, path, hint):
    _, problems = check_spec_text(BASE + text, "s.yaml")
    assert [(p.line, p.path) for p in problems] == [(line, path)], problems
    assert hint in problems[0].message, problems[0].message


def test_wandb_log_uniform_takes_exponents_and_is_not_an_alias():
    """W&B's log_uniform bounds are exponents; tfcli's are values, so exponents are refused."""
    _, problems = check_spec_text(BASE + "search:\n  parameters:\n    train.lr: {distribution: log_uniform, min: -9, max: -4}\n", "s.yaml")
    assert problems and all(p.path.startswith("search.parameters.train.lr") for p in problems), problems
