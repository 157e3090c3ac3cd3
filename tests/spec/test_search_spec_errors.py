"""Broken search sections (samplers, when:, initial, several objectives): each is reported
with its line and field path, exit code 2, no traceback; the valid ones load."""

from __future__ import annotations

import textwrap

import pytest

from tfcli.spec.load import load_spec_text

pytestmark = pytest.mark.timeout(60)

VALID = textwrap.dedent(
    """\
    name: demo
    task:
      type: translation
      data: builtin:dates
    train:
      lr: 1.0e-3
      max_steps: 100
      eval_every: 50
    objective: {metric: bleu, mode: max}
    search:
      method: tpe
      num_samples: 4
      parameters:
        train.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-2}
        train.schedule: {values: [inverse_sqrt, constant]}
        train.warmup_steps: {values: [100, 400, 1600], when: {train.schedule: inverse_sqrt}}
        model.d_model: {values: [32, 64]}
        train.seed: {value: 3}
      initial:
        - {train.lr: 1.0e-3, train.schedule: inverse_sqrt, train.warmup_steps: 400}
    scheduler: {type: fifo}
    """
)

TWO_OBJECTIVES = "objective:\n  - {metric: bleu, mode: max}\n  - {metric: loss, mode: min}\n"


def edit(old: str, new: str, text: str = VALID) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def numeric_only(text: str) -> str:
    """The study with its values parameters (and conditions, initial) taken out: cmaes can run it."""
    for line in (
        "    train.schedule: {values: [inverse_sqrt, constant]}\n",
        "    train.warmup_steps: {values: [100, 400, 1600], when: {train.schedule: inverse_sqrt}}\n",
        "    model.d_model: {values: [32, 64]}\n",
        "  initial:\n    - {train.lr: 1.0e-3, train.schedule: inverse_sqrt, train.warmup_steps: 400}\n",
    ):
        text = edit(line, "", text)
    return text


# (id, study text, expected line, expected path, a phrase the message must hold)
BROKEN = [
    ("when-unknown-parent", edit("when: {train.schedule:", "when: {train.schedul:"), 16,
     "search.parameters.train.warmup_steps.when.train.schedul", "did you mean 'train.schedule'"),
    ("when-unsearched-parent", edit("when: {train.schedule: inverse_sqrt}", "when: {model.heads: 4}"), 16,
     "search.parameters.train.warmup_steps.when.model.heads", "not a searched parameter"),
    ("when-constant-parent", edit("when: {train.schedule: inverse_sqrt}", "when: {train.seed: 3}"), 16,
     "search.parameters.train.warmup_steps.when.train.seed", "a constant (value)"),
    ("when-distribution-parent", edit("when: {train.schedule: inverse_sqrt}", "when: {train.lr: 0.001}"), 16,
     "search.parameters.train.warmup_steps.when.train.lr", "a distribution (log_uniform)"),
    ("when-value-parent-cannot-take", edit("when: {train.schedule: inverse_sqrt}", "when: {train.schedule: [inverse_sqrt, cosine]}"), 16,
     "search.parameters.train.warmup_steps.when.train.schedule", "never takes 'cosine'"),
    ("when-on-a-constant", edit("train.seed: {value: 3}", "train.seed: {value: 3, when: {train.schedule: constant}}"), 18,
     "search.parameters.train.seed.when", "when: applies to searched parameters"),
    ("when-itself", edit("when: {train.schedule: inverse_sqrt}", "when: {train.warmup_steps: 100}"), 16,
     "search.parameters.train.warmup_steps.when.train.warmup_steps", "cannot depend on itself"),
    ("when-cycle", edit("train.schedule: {values: [inverse_sqrt, constant]}",
                        "train.schedule: {values: [inverse_sqrt, constant], when: {train.warmup_steps: 100}}"), 15,
     "search.parameters.train.schedule.when", "cycle"),
    ("when-empty", edit("when: {train.schedule: inverse_sqrt}", "when: {}"), 16,
     "search.parameters.train.warmup_steps.when", "at least one parameter"),
    ("when-pbt-mutation", edit("method: tpe", "method: random").replace("scheduler: {type: fifo}", "scheduler: {type: pbt, mutations: [train.lr, train.warmup_steps]}"), 21,
     "scheduler.mutations.1", "pbt cannot perturb train.warmup_steps"),
    ("when-pbt-default-mutations", edit("method: tpe", "method: random").replace("scheduler: {type: fifo}", "scheduler: {type: pbt}"), 21,
     "scheduler.type", "pbt cannot perturb train.schedule"),
    ("cmaes-with-values", edit("method: tpe", "method: cmaes"), 15,
     "search.parameters.train.schedule.values", "cmaes samples continuous and integer parameters only"),
    ("cmaes-with-values-names-the-parameter", edit("method: tpe", "method: cmaes"), 17,
     "search.parameters.model.d_model.values", "use method tpe or gp, or give it as a distribution"),
    ("several-objectives-cmaes", numeric_only(edit("method: tpe", "method: cmaes").replace("objective: {metric: bleu, mode: max}\n", TWO_OBJECTIVES)), 13,
     "search.method", "cmaes optimises one objective, but the study has 2"),
    ("several-objectives-asha-without-metric", edit("objective: {metric: bleu, mode: max}\n", TWO_OBJECTIVES).replace("scheduler: {type: fifo}", "scheduler: {type: asha}"), 23,
     "scheduler.type", "set scheduler.metric"),
    ("several-objectives-same-metric", edit("objective: {metric: bleu, mode: max}\n", "objective:\n  - {metric: bleu}\n  - {metric: bleu}\n"), 11,
     "objective.1.metric", "each objective must be a different metric"),
    ("several-objectives-empty", edit("objective: {metric: bleu, mode: max}\n", "objective: []\n"), 9,
     "objective", "at least one metric"),
    ("several-objectives-scheduler-metric-unknown", edit("objective: {metric: bleu, mode: max}\n", TWO_OBJECTIVES).replace("scheduler: {type: fifo}", "scheduler: {type: asha, metric: rouge1}"), 23,
     "scheduler.metric", "task translation does not produce metric 'rouge1'"),
    ("unknown-method", edit("method: tpe", "method: bohb"), 11, "search.method", "'nsga2'"),
    ("hyperband-under-max-concurrent", edit("num_samples: 4", "num_samples: 4\n  max_concurrent: 2").replace("scheduler: {type: fifo}", "scheduler: {type: hyperband}"), 13,
     "search.max_concurrent", "so it would stop none"),
    ("initial-unknown-key", edit("{train.lr: 1.0e-3, train.schedule", "{train.lrr: 1.0e-3, train.schedule"), 20,
     "search.initial.0.train.lrr", "not a parameter of search.parameters"),
    ("initial-constant-key", edit("train.warmup_steps: 400}", "train.warmup_steps: 400, train.seed: 3}"), 20,
     "search.initial.0.train.seed", "a constant (value)"),
    ("initial-outside-distribution", edit("{train.lr: 1.0e-3, train.schedule", "{train.lr: 0.5, train.schedule"), 20,
     "search.initial.0.train.lr", "must lie in [0.0001, 0.01]"),
    ("initial-not-among-values", edit("train.warmup_steps: 400}", "train.warmup_steps: 800}"), 20,
     "search.initial.0.train.warmup_steps", "must be one of the parameter's values"),
    ("initial-inactive-conditional", edit("train.schedule: inverse_sqrt, train.warmup_steps: 400}", "train.schedule: constant, train.warmup_steps: 400}"), 20,
     "search.initial.0.train.warmup_steps", "only searched when train.schedule in ['inverse_sqrt']"),
    ("initial-wrong-type", edit("{train.lr: 1.0e-3, train.schedule", "{train.lr: fast, train.schedule"), 20,
     "search.initial.0.train.lr", "must be a number"),
    ("initial-under-grid", edit("method: tpe", "method: grid").replace("    train.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-2}\n", ""), 18,
     "search.initial", "grid search runs every combination"),
    ("initial-more-than-samples", edit("num_samples: 4", "num_samples: 1").replace(
        "  initial:\n", "  initial:\n    - {train.lr: 2.0e-3}\n"), 19, "search.initial", "give at most 1"),
    ("initial-empty-point", edit("  initial:\n", "  initial:\n    - {}\n"), 20, "search.initial.0", "at least one searched parameter"),
]


@pytest.mark.parametrize("text,line,path,phrase", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_search_section_exits_2_with_line_and_path(cli, tmp_path, text, line, path, phrase):
    study = tmp_path / "broken.yaml"
    study.write_text(text)
    result = cli("study", "validate", study)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output + result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    location = f"{study}:{line}: {path}: "
    matching = [l for l in lines if l.startswith(location)]
    assert matching, f"no line starts with {location} in\n{result.stderr}"
    assert any(phrase in l for l in matching), result.stderr


def test_at_least_fifteen_distinct_broken_files():
    assert len({case[1] for case in BROKEN}) >= 15


@pytest.mark.parametrize("method", ["tpe", "gp", "qmc", "nsga2", "random"])
def test_the_valid_study_loads_under_every_method_that_takes_values(method):
    spec = load_spec_text(edit("method: tpe", f"method: {method}"))
    assert spec.search.parameters["train.warmup_steps"].when == {"train.schedule": "inverse_sqrt"}
    assert spec.search.initial == [{"train.lr": 1.0e-3, "train.schedule": "inverse_sqrt", "train.warmup_steps": 400}]


@pytest.mark.parametrize("method", ["tpe", "gp", "qmc", "nsga2"])
def test_several_objectives_load_under_the_multi_objective_samplers(method):
    spec = load_spec_text(edit("method: tpe", f"method: {method}").replace("objective: {metric: bleu, mode: max}\n", TWO_OBJECTIVES))
    assert [o.metric for o in spec.objectives] == ["bleu", "loss"]


def test_cmaes_loads_with_numeric_parameters_and_one_objective():
    spec = load_spec_text(numeric_only(edit("method: tpe", "method: cmaes")))
    assert spec.search.method == "cmaes"


def test_a_list_of_parent_values_and_a_partial_point_load():
    text = edit("when: {train.schedule: inverse_sqrt}", "when: {train.schedule: [inverse_sqrt, constant]}")
    text = edit("{train.lr: 1.0e-3, train.schedule: inverse_sqrt, train.warmup_steps: 400}", "{train.lr: 1.0e-3}", text)
    spec = load_spec_text(text)
    assert spec.search.initial == [{"train.lr": 1.0e-3}]
