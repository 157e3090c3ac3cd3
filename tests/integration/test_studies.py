"""Studies end to end through the CLI: trials on Ray Tune, every trial a child run in MLflow."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tests.integration.conftest import study_runs, study_text, store_client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def check_complete_study(project, name, n_trials, objective="bleu"):
    parents, children = study_runs(project, name)
    assert len(parents) == 1, [p.info.run_id for p in parents]
    parent = parents[0]
    assert len(children) == n_trials
    client = store_client(project)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert len({c.data.tags["tfcli.trial_id"] for c in children}) == n_trials
    for child in children:
        assert child.info.status == "FINISHED", (child.data.tags.get("tfcli.trial_id"), child.info.status)
        assert child.data.params["train.max_steps"] == "20" and "model.d_model" in child.data.params
        history = client.get_metric_history(child.info.run_id, objective)
        steps = [m.step for m in history]
        assert steps and steps == sorted(set(steps)), steps
        assert set(steps) <= {10, 20}
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id, "checkpoint")}
        assert {"checkpoint/model.safetensors", "checkpoint/valid_outputs.jsonl", "checkpoint/config.json"} <= artifacts
    parent_artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "study.yaml" in parent_artifacts
    assert parent.data.tags["tfcli.study_name"] == name
    return parent, children


def test_random_asha_study(project, ray_session, cli):
    text = study_text("rand-asha").replace("name: rand-asha\n", "name: rand-asha\ndescription: dates, lr against width\n")
    (project / "s.yaml").write_text(text)
    result = cli("study", "start", "s.yaml")
    assert result.exit_code == 0, result.output + result.stderr
    parent, children = check_complete_study(project, "rand-asha", 4)
    stopped = [c for c in children if c.data.tags.get("tfcli.stopped_early") == "true"]
    assert f"{4 - len(stopped)} finished, {len(stopped)} stopped, 0 failed, 0 killed" in result.stdout, result.stdout
    assert sorted(c.data.tags["tfcli.state"] for c in children) == sorted(["stopped"] * len(stopped) + ["finished"] * (4 - len(stopped)))
    assert all(int(c.data.tags["tfcli.last_step"]) == 10 for c in stopped)

    # The parent run summarises the study for MLflow's UI; each child names what was searched.
    assert parent.data.tags["mlflow.note.content"] == "dates, lr against width"
    assert parent.data.metrics["trials_stopped"] == len(stopped)
    assert parent.data.metrics["trials_finished"] == 4 - len(stopped)
    assert parent.data.metrics["trials_failed"] == parent.data.metrics["trials_killed"] == 0
    values = {c.data.tags["tfcli.trial_id"]: float(c.data.tags["tfcli.objective_value"]) for c in children}
    best_trial = max(values, key=values.get)
    assert parent.data.metrics["best_bleu"] == values[best_trial] == max(values.values())
    assert parent.data.tags["tfcli.best_trial"] == best_trial or values[parent.data.tags["tfcli.best_trial"]] == values[best_trial]
    best_run = next(c for c in children if c.data.tags["tfcli.trial_id"] == parent.data.tags["tfcli.best_trial"])
    assert parent.data.tags["tfcli.best_run_id"] == best_run.info.run_id
    assert float(parent.data.tags["best.train.lr"]) == float(best_run.data.params["train.lr"])
    assert int(parent.data.tags["best.model.d_model"]) == int(best_run.data.params["model.d_model"])
    assert all(json.loads(c.data.tags["tfcli.searched"]) == ["model.d_model", "train.lr"] for c in children)

    listing = cli("study", "list", "--format", "json")
    studies = json.loads(listing.stdout)["studies"]
    assert [s["name"] for s in studies] == ["rand-asha"]
    status = cli("study", "status", "rand-asha", "--format", "json")
    trials = json.loads(status.stdout)["trials"]
    assert sorted(t["status"] for t in trials) == ["FINISHED"] * 4


def test_asha_stops_on_validation_loss_while_the_trials_rank_by_bleu(project, ray_session, cli):
    """scheduler.metric: loss. At the first rung (step 10) BLEU is 0 for both trials, so ASHA on
    BLEU could not tell them apart; on validation loss it stops lr 1e-7. The ranking, the best
    checkpoint and the summary stay on the objective, BLEU."""
    text = study_text(
        "on-loss", method="grid", samples=1, parameters="    train.lr: {values: [3.0e-3, 1.0e-7]}",
        scheduler="{type: asha, grace_period: 10, reduction_factor: 2, metric: loss}",
    ).replace("  max_concurrent: 2\n", "  max_concurrent: 1\n")
    (project / "l.yaml").write_text(text)
    result = cli("study", "start", "l.yaml", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads(result.stdout)
    assert summary["states"]["stopped"] == 1 and summary["states"]["finished"] == 1, summary
    _, children = study_runs(project, "on-loss")
    by_lr = {float(c.data.params["train.lr"]): c for c in children}
    assert by_lr[1.0e-7].data.tags["tfcli.state"] == "stopped", "ASHA did not stop on loss"
    client = store_client(project)
    at_rung = [next(m.value for m in client.get_metric_history(c.info.run_id, "bleu") if m.step == 10) for c in children]
    assert at_rung == [0.0, 0.0], f"BLEU at the first rung told the trials apart ({at_rung}): the test shows nothing"
    report = json.loads(cli("report", "on-loss", "--format", "json").stdout)
    assert report["metric"] == "bleu" and report["ranked"][0]["config"]["train.lr"] == 3.0e-3


def test_a_stopped_trial_is_stopped_in_every_view(project, ray_session, cli):
    """One word per state: a trial ASHA stops reads ``stopped`` in the log lines the live display
    prints without a terminal, the JSON summary of ``start``, ``status``, the report (JSON and
    HTML) and its MLflow tag, while MLflow's own status stays FINISHED."""
    text = study_text(
        "stop-one", method="grid", samples=1, parameters="    train.lr: {values: [3.0e-3, 1.0e-7]}",
        scheduler="{type: asha, grace_period: 10, reduction_factor: 2}",
    ).replace("  max_concurrent: 2\n", "  max_concurrent: 1\n") + "objective: {metric: loss, mode: min}\n"
    (project / "s.yaml").write_text(text)
    result = cli("study", "start", "s.yaml", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads(result.stdout)  # stdout holds only the summary; the lines went to stderr
    assert summary["states"] == {"running": 0, "finished": 1, "stopped": 1, "failed": 0, "killed": 0}, summary
    assert summary["search_seed"] == 5 and summary["next"] == "tfcli report stop-one"
    assert " stopped at step 10" in result.stderr, result.stderr

    _, children = study_runs(project, "stop-one")
    by_lr = {float(c.data.params["train.lr"]): c for c in children}
    assert by_lr[1.0e-7].data.tags["tfcli.state"] == "stopped" and by_lr[1.0e-7].info.status == "FINISHED"
    assert by_lr[3.0e-3].data.tags["tfcli.state"] == "finished"
    number = by_lr[1.0e-7].data.tags["tfcli.trial_number"]

    status = json.loads(cli("study", "status", "stop-one", "--format", "json").stdout)
    assert {t["number"]: t["state"] for t in status["trials"]}[int(number)] == "stopped"
    table = cli("study", "status", "stop-one").stdout
    assert "stopped" in table and "early stop" not in table

    report = cli("report", "stop-one", "--format", "json")
    assert report.exit_code == 0, report.output + report.stderr
    states = {row.get("number", row.get("trial")): row.get("state") for block in ("ranked", "apart") for row in json.loads(report.stdout).get(block, [])}
    assert "stopped" in states.values(), report.stdout
    html = cli("report", "stop-one", "--format", "html", "--out", str(project / "r.html"))
    assert html.exit_code == 0, html.output + html.stderr
    assert "stopped" in (project / "r.html").read_text()

    # Issue 24: the report's status column (table and CSV) prints the state word, not MLflow's
    # FINISHED, and the tag, `status`, the report and the log lines agree on every trial.
    report_csv = cli("report", "stop-one", "--format", "csv")
    assert report_csv.exit_code == 0, report_csv.output + report_csv.stderr
    csv_states = {row["trial"]: row["status"] for row in csv.DictReader(io.StringIO(report_csv.stdout))}
    assert csv_states[number] == "stopped", report_csv.stdout
    tags = {c.data.tags["tfcli.trial_number"]: c.data.tags["tfcli.state"] for c in children}
    assert {str(t["number"]): t["state"] for t in status["trials"]} == tags == csv_states
    logged = {m.group(1): m.group(2) for m in re.finditer(r"trial (\S+) (finished|stopped) at step", result.stderr)}
    assert logged == tags, result.stderr
    listed = json.loads(cli("study", "list", "--format", "json").stdout)["studies"]
    assert next(s for s in listed if s["name"] == "stop-one")["states"] == {
        "running": 0, "finished": 1, "stopped": 1, "failed": 0, "killed": 0
    }
    assert "1 finished, 1 stopped" in cli("study", "list").stdout


def test_tpe_study(project, ray_session, cli):
    (project / "s.yaml").write_text(study_text("tpe", method="tpe", scheduler="{type: fifo}"))
    result = cli("study", "start", "s.yaml")
    assert result.exit_code == 0, result.output + result.stderr
    check_complete_study(project, "tpe", 4)


def test_pbt_study(project, ray_session, cli):
    text = study_text(
        "pbt",
        parameters="    train.lr: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-2}",
        scheduler="{type: pbt, perturbation_interval: 10}",
    )
    (project / "s.yaml").write_text(text)
    result = cli("study", "start", "s.yaml")
    assert result.exit_code == 0, result.output + result.stderr
    parent, children = check_complete_study(project, "pbt", 4)
    client = store_client(project)
    for child in children:
        assert client.get_metric_history(child.info.run_id, "hp/train.lr"), "PBT logs the searched value as it changes"


def test_trials_that_raise_or_diverge_fail_and_the_others_finish(project, ray_session, cli):
    text = study_text(
        "failures",
        task="qa",
        data="facts",
        method="grid",
        samples=1,
        scheduler="{type: fifo}",
        parameters="    train.lr: {values: [3.0e-3, 10.0]}\n    data.max_source_length: {values: [96, 4]}",
        train_extra=", grad_clip: 0, schedule: constant, adam_beta2: 0.0, label_smoothing: 0.0",
    )
    (project / "s.yaml").write_text(text)
    result = cli("study", "start", "s.yaml")
    assert result.exit_code == 1, result.output + result.stderr
    parents, children = study_runs(project, "failures")
    by_config = {
        (c.data.params["train.lr"], c.data.params["data.max_source_length"]): c for c in children
    }
    assert len(by_config) == 4
    assert by_config[("0.003", "96")].info.status == "FINISHED"
    diverged = by_config[("10.0", "96")]
    assert diverged.info.status == "FAILED" and "diverged" in diverged.data.tags["tfcli.error"]
    for key in (("0.003", "4"), ("10.0", "4")):
        raised = by_config[key]
        assert raised.info.status == "FAILED" and "max_length" in raised.data.tags["tfcli.error"]


def test_extend_runs_more_trials_under_the_same_parent_with_a_warm_searcher(project, ray_session, cli):
    (project / "s.yaml").write_text(study_text("ext", method="tpe", scheduler="{type: fifo}"))
    assert cli("study", "start", "s.yaml").exit_code == 0
    first_parent, first = study_runs(project, "ext")
    result = cli("study", "extend", "ext", "--num-samples", "4")
    assert result.exit_code == 0, result.output + result.stderr
    assert "warm-started from 4 finished trial(s)" in result.stdout
    parents, children = study_runs(project, "ext")
    assert [p.info.run_id for p in parents] == [p.info.run_id for p in first_parent]
    assert len(children) == 8

    # Trial numbers run 0..7 across the start and the extend, and name a trial to export.
    number = {c.info.run_id: int(c.data.tags["tfcli.trial_number"]) for c in children}
    assert sorted(number.values()) == list(range(8))
    assert sorted(number[c.info.run_id] for c in first) == [0, 1, 2, 3]
    sixth = next(c for c in children if number[c.info.run_id] == 5)
    exported = cli("export", "ext", "--trial", "5", "--out", str(project / "sixth"))
    assert exported.exit_code == 0, exported.output + exported.stderr
    provenance = json.loads((project / "sixth" / "config.json").read_text())["provenance"]
    assert provenance["run_id"] == sixth.info.run_id and provenance["trial_number"] == 5
    ranked = json.loads(cli("report", "ext", "--format", "json").stdout)["ranked"]
    assert sorted(row["number"] for row in ranked) == sorted(number[row["run_id"]] for row in ranked)
    assert all(row["cells"]["trial"] == str(row["number"]) for row in ranked)

    from ray.tune.search import ConcurrencyLimiter
    from tfcli.study.space import make_searcher
    from tfcli.study.lifecycle import load_stored_study
    from tfcli.tracking import resolve_tracking

    spec = load_stored_study(resolve_tracking(None), "ext").spec
    searcher = make_searcher(spec)
    searcher.restore_from_dir(str(project / "mlruns" / "ray" / "ext-ext1"))
    inner = searcher.searcher if isinstance(searcher, ConcurrencyLimiter) else searcher
    told = [t for t in inner._ot_study.trials if t.state.name == "COMPLETE"]
    first_values = sorted(float(c.data.tags["tfcli.objective_value"]) for c in first)
    assert len(told) == 8
    assert sorted(t.value for t in told[:4]) == pytest.approx(first_values)


def test_a_study_whose_trials_end_at_train_max_time(project, ray_session, cli):
    """Trials that end at their time budget are finished (not stopped early, not unfinished),
    their last evaluation says so, and their train_loss history holds the log_every points."""
    text = study_text("budget", samples=2, steps=100000, scheduler="{type: fifo}", train_extra=", max_time: 4s, log_every: 3")
    (project / "s.yaml").write_text(text.replace("eval_every: 10", "eval_every: 30"))
    result = cli("study", "start", "s.yaml")
    assert result.exit_code == 0, result.output + result.stderr
    assert "2 finished, 0 stopped, 0 failed, 0 killed" in result.stdout, result.stdout
    _, children = study_runs(project, "budget")
    client = store_client(project)
    for child in children:
        assert child.info.status == "FINISHED" and "tfcli.stopped_early" not in child.data.tags, child.data.tags
        assert child.data.metrics["max_time_reached"] == 1.0 and child.data.metrics["elapsed_s"] >= 4
        last_step = int(child.data.tags["tfcli.last_step"])
        assert 0 < last_step < 100000
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "train_loss")]
        assert len(steps) == len(set(steps)) >= last_step // 3, steps
    status = cli("study", "status", "budget", "--format", "json")
    assert sorted(t["status"] for t in json.loads(status.stdout)["trials"]) == ["FINISHED"] * 2
