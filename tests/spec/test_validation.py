"""Study files: every broken file is reported with its line and field path, exit code 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tfcli.errors import StudySpecError
from tfcli.spec.load import load_spec, load_spec_text

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]

VALID = textwrap.dedent(
    """\
    name: demo
    task:
      type: translation
      data: builtin:dates
    model:
      d_model: 64
      heads: 4
      positional: sinusoidal
    train:
      lr: 1.0e-3
      max_steps: 100
      eval_every: 50
    objective: {metric: bleu, mode: max}
    search:
      method: random
      num_samples: 2
      parameters:
        train.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-2}
        model.d_model: {values: [32, 64]}
    scheduler: {type: asha, grace_period: 50}
    budget: {time: 10m, max_failures: 1}
    """
)


def edit(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


# (id, study text, expected line, expected path, a phrase the message must hold)
BROKEN = [
    ("yaml-syntax", edit("  heads: 4\n", "  heads: [4\n"), 8, "", "YAML syntax error"),
    ("yaml-tab-indent", edit("  heads: 4\n", "\theads: 4\n"), 7, "", "YAML syntax error"),
    ("unknown-key-suggestion", edit("  heads: 4\n", "  haeds: 4\n"), 7, "model.haeds", "did you mean 'heads'"),
    ("unknown-section", VALID + "schedular: {type: fifo}\n", 22, "schedular", "did you mean 'scheduler'"),
    ("wrong-type-int", edit("  heads: 4\n", "  heads: four\n"), 7, "model.heads", "valid integer"),
    ("wrong-type-float", edit("  lr: 1.0e-3\n", "  lr: fast\n"), 10, "train.lr", "valid number"),
    ("min-ge-max", edit("min: 1.0e-4, max: 1.0e-2", "min: 1.0e-2, max: 1.0e-4"), 18, "search.parameters.train.lr.min", "min < max"),
    ("log-uniform-nonpositive", edit("min: 1.0e-4, max: 1.0e-2", "min: 0, max: 1.0e-2"), 18, "search.parameters.train.lr.min", "min > 0"),
    ("metric-not-of-task", edit("metric: bleu", "metric: rougeL"), 13, "objective.metric", "does not produce metric 'rougeL'"),
    ("unknown-task", edit("type: translation", "type: parsing"), 3, "task.type", "'translation'"),
    ("path-names-no-field", edit("    model.d_model: {values", "    model.d_modle: {values"), 19, "search.parameters.model.d_modle", "did you mean 'model.d_model'"),
    ("path-unknown-section", edit("    model.d_model: {values", "    optim.d_model: {values"), 19, "search.parameters.optim.d_model", "names no field"),
    ("empty-values", edit("{values: [32, 64]}", "{values: []}"), 19, "search.parameters.model.d_model.values", "at least one value"),
    ("grid-with-distribution", edit("method: random", "method: grid"), 18, "search.parameters.train.lr.distribution", "grid search takes values only"),
    ("heads-not-dividing", edit("{values: [32, 64]}", "{values: [32, 66]}"), 19, "search.parameters.model.d_model", "heads=4 does not divide d_model=66"),
    ("heads-not-dividing-default", edit("  heads: 4\n", "  heads: 5\n"), 19, "search.parameters.model.d_model", "heads=5 does not divide"),
    ("bad-mode", edit("mode: max", "mode: maximum"), 13, "objective.mode", "'max' or 'min'"),
    ("missing-task", VALID.replace("task:\n  type: translation\n  data: builtin:dates\n", ""), 1, "task", "required field is missing"),
    ("missing-task-type", edit("  type: translation\n", ""), 2, "task.type", "required field is missing"),
    ("builtin-of-other-task", edit("builtin:dates", "builtin:facts"), 4, "task.data", "no built-in data set 'facts'"),
    ("data-not-builtin", edit("builtin:dates", "dates.tsv"), 4, "task.data", "builtin:NAME"),
    ("missing-data-file", edit("data: builtin:dates", "data: {train: nowhere/train.tsv}"), 4, "task.data.train", "data file not found"),
    ("int-field-uniform", edit("{values: [32, 64]}", "{distribution: uniform, min: 32, max: 64}"), 19, "search.parameters.model.d_model.distribution", "use int_uniform"),
    ("categorical-distribution", edit("    model.d_model: {values: [32, 64]}", "    model.norm: {distribution: uniform, min: 0, max: 1}"), 19, "search.parameters.model.norm.distribution", "give them as values"),
    ("value-outside-field-range", edit("{values: [32, 64]}", "{values: [32, 64]}\n    model.dropout: {values: [0.1, 1.5]}"), 20, "search.parameters.model.dropout.values.1", "less than 1"),
    ("literal-value-invalid", edit("positional: sinusoidal", "positional: alibi"), 8, "model.positional", "'rotary'"),
    ("both-values-and-distribution", edit("{values: [32, 64]}", "{values: [32, 64], distribution: int_uniform, min: 32, max: 64}"), 19, "search.parameters.model.d_model", "only one of"),
    ("param-needs-a-kind", edit("{values: [32, 64]}", "{min: 32, max: 64}"), 19, "search.parameters.model.d_model", "needs one of value"),
    ("q-uniform-no-q", edit("{values: [32, 64]}", "{distribution: q_uniform, min: 32, max: 64}"), 19, "search.parameters.model.d_model.q", "q > 0"),
    ("eval-every-beyond-max-steps", edit("eval_every: 50", "eval_every: 500"), 12, "train.eval_every", "eval_every <= max_steps"),
    ("bad-duration", edit("time: 10m", "time: soon"), 21, "budget.time", "duration"),
    ("negative-failures", edit("max_failures: 1", "max_failures: -1"), 21, "budget.max_failures", "greater than or equal to 0"),
    ("max-line-length-not-positive", VALID + "data: {max_line_length: 0}\n", 22, "data.max_line_length", "greater than or equal to 1"),
    ("bad-name", edit("name: demo", "name: 'my study!'"), 1, "name", "pattern"),
    ("duplicate-key", edit("  heads: 4\n", "  heads: 4\n  heads: 8\n"), 8, "model.heads", "duplicate key"),
    ("pbt-without-random", edit("scheduler: {type: asha, grace_period: 50}", "scheduler: {type: pbt}").replace("method: random", "method: tpe"), 20, "scheduler.type", "needs search.method random"),
    ("unknown-param-field", edit("{values: [32, 64]}", "{vals: [32, 64]}"), 19, "search.parameters.model.d_model.vals", "did you mean 'values'"),
    ("not-a-mapping", "- just\n- a list\n", 1, "", "must be a mapping"),
    ("empty-file", "", 1, "", "must be a mapping"),
]


@pytest.mark.parametrize("text,line,path,phrase", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_study_exits_2_with_line_and_path(cli, tmp_path, text, line, path, phrase):
    study = tmp_path / "broken.yaml"
    study.write_text(text)
    result = cli("study", "validate", study)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output + result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    location = f"{study}:{line}: " if line is not None else f"{study}: "
    matching = [l for l in lines if l.startswith(location + (f"{path}: " if path else ""))]
    assert matching, f"no line starts with {location}{path}: in\n{result.stderr}"
    assert any(phrase in l for l in matching), result.stderr


def test_at_least_twenty_distinct_broken_files():
    assert len({case[1] for case in BROKEN}) >= 20


def test_every_problem_is_reported_at_once(tmp_path):
    text = edit("  heads: 4\n", "  haeds: 4\n").replace("metric: bleu", "metric: rouge2").replace("max_failures: 1", "max_failures: x")
    study = tmp_path / "many.yaml"
    study.write_text(text)
    with pytest.raises(StudySpecError) as info:
        load_spec(study)
    paths = {p.path for p in info.value.problems}
    assert {"model.haeds", "objective.metric", "budget.max_failures"} <= paths


def test_json_errors(cli, tmp_path):
    import json

    study = tmp_path / "bad.yaml"
    study.write_text(edit("  heads: 4\n", "  haeds: 4\n"))
    result = cli("study", "validate", study, "--format", "json")
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert payload["valid"] is False
    assert payload["errors"] == [
        {"file": str(study), "line": 7, "path": "model.haeds", "message": "unknown key 'haeds'; did you mean 'heads'?"}
    ]


def test_valid_json(cli, tmp_path):
    import json

    study = tmp_path / "ok.yaml"
    study.write_text(VALID)
    result = cli("study", "validate", study, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"valid": True, "errors": []}


def test_missing_study_file(cli, tmp_path):
    result = cli("study", "validate", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("study", sorted((REPO / "studies").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_study_validates(cli, study):
    result = cli("study", "validate", study)
    assert result.exit_code == 0, result.stderr


def test_defaults_are_filled():
    spec = load_spec_text("name: x\ntask: {type: qa, data: 'builtin:facts'}\n")
    assert spec.primary_objective.metric == "f1" and spec.primary_objective.mode == "max"
    assert spec.model.d_model == 128 and spec.search.method == "random"
    ter = load_spec_text("name: x\ntask: {type: translation, data: 'builtin:dates'}\nobjective: {metric: ter}\n")
    assert ter.primary_objective.mode == "min"
    assert spec.data.max_line_length == 100_000


def test_relative_data_paths_resolve_against_the_study_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.tsv").write_text("a\tb\n")
    study = tmp_path / "s.yaml"
    study.write_text("name: x\ntask: {type: translation, data: {train: data/train.tsv}}\n")
    spec = load_spec(study)
    assert Path(spec.resolve_path(spec.task.data.train)) == tmp_path / "data" / "train.tsv"


def test_yaml_is_loaded_safely(tmp_path):
    study = tmp_path / "evil.yaml"
    study.write_text("name: !!python/object/apply:os.system ['echo hacked']\ntask: {type: qa, data: 'builtin:facts'}\n")
    with pytest.raises(StudySpecError) as info:
        load_spec(study)
    assert info.value.problems[0].line == 1


def test_pbt_cannot_perturb_the_model(cli, tmp_path):
    study = tmp_path / "pbt.yaml"
    study.write_text(
        edit("scheduler: {type: asha, grace_period: 50}", "scheduler: {type: pbt, mutations: [train.lr, model.d_model]}")
    )
    result = cli("study", "validate", study)
    assert result.exit_code == 2
    assert f"{study}:20: scheduler.mutations.1: pbt cannot perturb 'model.d_model'" in result.stderr


def test_pbt_default_mutations_leave_the_model_alone():
    from tfcli.study.space import pbt_mutations

    spec = load_spec_text(edit("scheduler: {type: asha, grace_period: 50}", "scheduler: {type: pbt}"))
    assert set(pbt_mutations(spec)) == {"train.lr"}
