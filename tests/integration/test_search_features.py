"""The new search features end to end (real Ray, the real trainable, a real MLflow store):
the gp, cmaes, qmc and nsga2 samplers, conditional parameters (when:), search.initial,
search.warm_start and search.constraints.
Tiny on purpose: 10 steps, one evaluation, 3-4 trials per study, one shared Ray session."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.integration.conftest import study_runs, study_text, store_client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NUMERIC = """\
    train.lr: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-2}
    train.warmup_steps: {distribution: int_uniform, min: 1, max: 8}"""

CONDITIONAL = """\
    train.schedule: {values: [inverse_sqrt, constant]}
    train.warmup_steps: {values: [2, 8], when: {train.schedule: inverse_sqrt}}"""

TWO_OBJECTIVES = "objective: [{metric: bleu, mode: max}, {metric: loss, mode: min}]\n"


def children_configs(project, name):
    _, children = study_runs(project, name)
    return children, {c.data.tags["tfcli.trial_number"]: json.loads(c.data.tags["tfcli.config"]) for c in children}


def start(cli, project, text, *extra):
    (project / "s.yaml").write_text(text)
    return cli("study", "start", "s.yaml", *extra)


@pytest.mark.parametrize("method", ["gp", "cmaes", "qmc", "nsga2"])
def test_each_new_sampler_runs_a_study(project, ray_session, cli, method):
    text = study_text(f"s-{method}", method=method, samples=4, steps=10, parameters=NUMERIC, scheduler="{type: fifo}")
    if method == "nsga2":  # several objectives: a list metric in the searcher, one in TuneConfig
        text = text.replace("scheduler:", TWO_OBJECTIVES + "scheduler:")
    dry = start(cli, project, text, "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.output + dry.stderr
    planned = json.loads(dry.stdout)["first_configs"]
    result = start(cli, project, text)
    assert result.exit_code == 0, result.output + result.stderr
    assert "4 finished" in result.stdout
    children, configs = children_configs(project, f"s-{method}")
    assert len(children) == 4 and all(c.info.status == "FINISHED" for c in children)
    for config in configs.values():
        assert set(config) == {"train.lr", "train.warmup_steps"}
        assert 1e-3 <= config["train.lr"] <= 1e-2 and 1 <= config["train.warmup_steps"] <= 8
    # The seeded sampler's first two configurations (both started before any result) are
    # what the dry run said; later ones follow results.
    first_two = [configs[n] for n in sorted(configs, key=int)[:2]]
    assert sorted(json.dumps(c, sort_keys=True) for c in first_two) == sorted(
        json.dumps({k: p[k] for k in first_two[0]}, sort_keys=True) for p in planned[:2]
    )
    if method == "nsga2":
        for child in children:
            assert {"bleu", "loss"} <= set(child.data.metrics), child.data.metrics


def test_a_conditional_grid_runs_only_the_valid_combinations(project, ray_session, cli):
    text = study_text("cond-grid", method="grid", samples=1, steps=10, parameters=CONDITIONAL, scheduler="{type: fifo}")
    dry = start(cli, project, text, "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.output + dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["trials"] == 3 and "grid of 3 configurations" in plan["space"]
    expected = [
        {"train.schedule": "inverse_sqrt", "train.warmup_steps": 2},
        {"train.schedule": "inverse_sqrt", "train.warmup_steps": 8},
        {"train.schedule": "constant"},
    ]
    assert plan["first_configs"] == expected
    result = start(cli, project, text)
    assert result.exit_code == 0, result.output + result.stderr
    children, configs = children_configs(project, "cond-grid")
    assert sorted(configs.values(), key=json.dumps) == sorted(expected, key=json.dumps)
    for child in children:
        config = json.loads(child.data.tags["tfcli.config"])
        if config["train.schedule"] == "constant":
            # Inactive: never in the trial's config; the trial kept the study's warmup (5).
            assert "train.warmup_steps" not in config
            assert child.data.params["train.warmup_steps"] == "5"
        else:
            assert child.data.params["train.warmup_steps"] == str(config["train.warmup_steps"])


def test_a_conditional_tpe_study_starts_with_its_initial_points(project, ray_session, cli):
    parameters = CONDITIONAL + "\n    train.lr: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-2}"
    text = study_text("cond-tpe", method="tpe", samples=4, steps=10, parameters=parameters, scheduler="{type: fifo}")
    text = text.replace("  parameters:\n", "  initial:\n    - {train.schedule: constant, train.lr: 5.0e-3}\n"
                        "    - {train.schedule: inverse_sqrt, train.warmup_steps: 8}\n  parameters:\n")
    dry = start(cli, project, text, "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.output + dry.stderr
    planned = json.loads(dry.stdout)["first_configs"]
    assert planned[0] == {"train.schedule": "constant", "train.lr": 5.0e-3}
    assert planned[1]["train.warmup_steps"] == 8 and "train.lr" in planned[1]  # filled by the sampler
    result = start(cli, project, text)
    assert result.exit_code == 0, result.output + result.stderr
    children, configs = children_configs(project, "cond-tpe")
    assert len(children) == 4
    by_number = [configs[n] for n in sorted(configs, key=int)]
    as_text = lambda configs: sorted(json.dumps(c, sort_keys=True) for c in configs)  # noqa: E731
    assert as_text(by_number[:2]) == as_text(planned[:2])  # the first two trials
    for config in by_number:
        assert ("train.warmup_steps" in config) == (config["train.schedule"] == "inverse_sqrt"), config
    client = store_client(project)
    parent = study_runs(project, "cond-tpe")[0][0]
    assert client.get_run(parent.info.run_id).data.tags["tfcli.study_name"] == "cond-tpe"


def test_a_point_outside_the_space_is_refused_before_anything_runs(project, cli):
    text = study_text("bad-initial", method="tpe", parameters=NUMERIC, scheduler="{type: fifo}")
    text = text.replace("  parameters:\n", "  initial:\n    - {train.lr: 0.5}\n  parameters:\n")
    result = start(cli, project, text)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output + result.stderr
    assert "s.yaml:12: search.initial.0.train.lr: must lie in [0.001, 0.01]" in result.stderr


def test_a_warm_start_tells_the_new_searcher_the_earlier_study_and_names_it(project, ray_session, cli):
    """Issue 26, acceptance 3 and 6: TPE seeded from a finished study of the same store."""
    from tfcli.spec.load import load_spec
    from tfcli.study.ray_internals import optuna_search_study
    from tfcli.study.space import make_searcher
    from tfcli.study.warm_start import warm_start_from
    from tfcli.tracking import resolve_tracking, trial_records

    wide = start(cli, project, study_text("wide", method="tpe", samples=3, steps=10, parameters=NUMERIC, scheduler="{type: fifo}"))
    assert wide.exit_code == 0, wide.output + wide.stderr
    _, configs = children_configs(project, "wide")
    lrs = sorted(c["train.lr"] for c in configs.values())
    narrow = NUMERIC.replace("max: 1.0e-2", f"max: {lrs[1]!r}")  # the largest learning rate falls outside
    warm_text = study_text("warm", method="tpe", samples=1, steps=10, parameters=narrow, scheduler="{type: fifo}")
    warm_text = warm_text.replace("  seed: 5\n", "  seed: 5\n  warm_start: {study: wide}\n")
    line = warm_text.splitlines().index("  warm_start: {study: wide}") + 1

    for bad, said in [
        (warm_text.replace("{study: wide}", "{study: nope}"), "no study named 'nope'"),
        (warm_text.replace("scheduler:", "objective: {metric: chrf, mode: max}\nscheduler:"), "ranks trials by bleu (max) and this one by chrf (max)"),
        (warm_text.replace("type: translation, data: 'builtin:dates'", "type: classification, data: 'builtin:sentiment'"), "is a translation study and this one is classification"),
    ]:
        refused = start(cli, project, bad)
        assert refused.exit_code == 2 and "Traceback" not in refused.output, refused.output
        assert f"s.yaml:{line}: search.warm_start.study: " in refused.stderr and said in refused.stderr, refused.stderr
    random = start(cli, project, warm_text.replace("method: tpe", "method: random"))
    assert random.exit_code == 2 and f"s.yaml:{line}: search.warm_start: search.method random does not learn" in random.stderr, random.stderr

    result = start(cli, project, warm_text)
    assert result.exit_code == 0, result.output + result.stderr
    assert "the searcher was told 2 finished trial(s) of study 'wide'; skipped 1 outside this study's space" in result.output
    (parent,), _ = study_runs(project, "warm")
    assert parent.data.tags["tfcli.warm_start"] == "wide" and parent.data.tags["tfcli.warm_start_trials"] == "2"

    warm = warm_start_from(load_spec(project / "s.yaml"), resolve_tracking(None))
    searcher = make_searcher(load_spec(project / "s.yaml"), points_to_evaluate=warm.points, evaluated_rewards=warm.rewards)
    told = optuna_search_study(getattr(searcher, "searcher", searcher)).trials
    records = trial_records(resolve_tracking(None), "wide", history=False)
    expected = sorted((r.objective_value, r.config["train.lr"], r.config["train.warmup_steps"]) for r in records if r.config["train.lr"] <= lrs[1])
    assert len(expected) == 2
    assert sorted((t.value, t.params["train.lr"], t.params["train.warmup_steps"]) for t in told) == expected


CONSTRAINED_POINTS = "[{model.d_model: 16, train.lr: 3.0e-3}, {model.d_model: 64, train.lr: 3.0e-3}, {model.d_model: 16, train.lr: 1.0e-7}, {model.d_model: 64, train.lr: 1.0e-7}]"


def test_constraints_refuse_before_training_and_keep_infeasible_trials_apart(project, ray_session, cli):
    """``search.constraints`` end to end (real Ray, the real trainable, a real MLflow store): one tiny
    tpe study whose four known starting points cross d_model 16 and 64 (10 944 and 80 256
    parameters) with a learning rate that trains (validation loss about 4.6 after 10 steps) and one
    that does not (about 5.7). ``parameters <= 50000`` refuses both d_model 64 configurations before
    they train a step; ``loss >= 5`` makes the trial that trains, the one every best would otherwise
    pick (lower loss breaks the tie of BLEU 0), infeasible. The report lists both kinds apart with
    what they broke; the summary, the parent run, ``study best`` and ``export`` name the one feasible trial."""
    text = study_text(
        "lim", method="tpe", samples=4, steps=10, scheduler="{type: fifo}",
        parameters="    model.d_model: {values: [16, 64]}\n    train.lr: {values: [3.0e-3, 1.0e-7]}",
    ).replace("  seed: 5\n", f"  seed: 5\n  initial: {CONSTRAINED_POINTS}\n  constraints: ['parameters <= 50000', 'loss >= 5']\n") + "eval: {max_examples: 4}\n"
    (project / "s.yaml").write_text(text)
    started = cli("study", "start", "s.yaml", "--format", "json")
    assert started.exit_code == 0, started.output + started.stderr
    summary = json.loads(started.stdout)

    (parent,), children = study_runs(project, "lim")
    by_config = {(int(c.data.params["model.d_model"]), float(c.data.params["train.lr"])): c for c in children}
    assert len(children) == 4 and len(by_config) == 4
    client = store_client(project)
    for (d_model, lr), child in by_config.items():
        parameters = child.data.metrics["parameters"]
        if parameters > 50000:  # over the limit: the pre-training report, and no step trained
            assert d_model == 64 and child.data.tags["tfcli.last_step"] == "0", child.data.tags
            assert "loss" not in child.data.metrics and "bleu" not in child.data.metrics, child.data.metrics
            assert [m.step for m in client.get_metric_history(child.info.run_id, "parameters")] == [0]
            assert (child.data.tags["tfcli.state"], child.data.tags["tfcli.stop_reason"]) == ("stopped", "constraint")
            assert child.data.tags["tfcli.infeasible"] == f"parameters <= 50000 (parameters={parameters:g})"
            assert "tfcli.checkpoint" not in child.data.tags
        else:
            assert d_model == 16 and child.data.tags["tfcli.state"] == "finished" and child.data.tags["tfcli.last_step"] == "10"
    trained = by_config[(16, 3.0e-3)]
    assert trained.data.metrics["loss"] < 5 <= by_config[(16, 1.0e-7)].data.metrics["loss"]
    assert trained.data.tags["tfcli.infeasible"] == f"loss >= 5 (loss={trained.data.metrics['loss']:g})"
    feasible = by_config[(16, 1.0e-7)]
    assert "tfcli.infeasible" not in feasible.data.tags
    best_id = feasible.data.tags["tfcli.trial_id"]
    assert parent.data.tags["tfcli.best_trial"] == best_id
    assert summary["best"]["trial_id"] == best_id and summary["best"]["config"] == {"model.d_model": 16, "train.lr": 1.0e-7}, summary

    report = cli("report", "lim", "--format", "json", "--no-significance")
    assert report.exit_code == 0, report.output + report.stderr
    payload = json.loads(report.stdout)
    assert [row["trial_id"] for row in payload["ranked"]] == [best_id]
    apart = {row["trial_id"]: row["infeasible"] for row in payload["apart"]}
    assert apart == {c.data.tags["tfcli.trial_id"]: c.data.tags["tfcli.infeasible"] for c in children if c is not feasible}
    table = cli("report", "lim", "--no-significance")
    assert "infeasible (broke search.constraints)" in table.stdout and "parameters <= 50000" in table.stdout, table.stdout
    rows = list(csv.DictReader(io.StringIO(cli("report", "lim", "--format", "csv", "--no-significance").stdout)))
    assert sorted(r["infeasible"] for r in rows) == sorted(["", *apart.values()])

    best = cli("study", "best", "lim", "--format", "json")
    assert best.exit_code == 0 and json.loads(best.stdout)["trial_id"] == best_id, best.output + best.stderr
    exported = cli("export", "lim", "--out", str(project / "out"), "--by", "auto", "--format", "json")
    assert exported.exit_code == 0, exported.output + exported.stderr
    assert json.loads(exported.stdout)["trial_id"] == best_id
    refused = cli("export", "lim", "--out", str(project / "no"), "--trial", trained.data.tags["tfcli.trial_number"])
    assert refused.exit_code == 2 and "broke loss >= 5" in refused.stderr, refused.output + refused.stderr
