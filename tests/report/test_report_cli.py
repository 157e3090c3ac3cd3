"""`tfcli report` on a real study (tests/report/conftest.py), checked against MLflow's own values."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tests.report.conftest import synthetic_study

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def mlflow_children(real_study):
    """The real study's child runs as MLflow itself returns them (its own search, no tfcli)."""
    from mlflow import MlflowClient

    client = MlflowClient(real_study.uri)
    experiment = client.get_experiment_by_name(real_study.name)
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.`tfcli.study_id` = '{real_study.study_id}' and tags.`tfcli.role` = 'trial'"
    )
    return client, experiment, runs


def expected_ranking(real_study, metric="chrf"):
    """(trial id, best value, its step) of each child, best first, from MLflow's metric history."""
    client, _, runs = mlflow_children(real_study)
    rows = []
    for run in runs:
        history = client.get_metric_history(run.info.run_id, metric)
        best = max(history, key=lambda m: (m.value, -m.step))
        rows.append((run.data.tags["tfcli.trial_id"], best.value, best.step, run))
    return sorted(rows, key=lambda r: -r[1])


def report(cli, real_study, *args):
    return cli("report", real_study.name, "--tracking-uri", real_study.uri, *args)


def test_json_ranks_exactly_as_mlflow_stores_the_values(cli, real_study):
    result = report(cli, real_study, "--format", "json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    expected = expected_ranking(real_study)
    assert len(expected) == 3
    assert [(r["rank"], r["trial_id"], r["value"], r["step"]) for r in payload["ranked"]] == [
        (i + 1, trial, value, step) for i, (trial, value, step, _) in enumerate(expected)
    ]
    for row, (_, value, _, run) in zip(payload["ranked"], expected):
        assert float(run.data.tags["tfcli.objective_value"]) == value  # the checkpoint's value is the best
        assert row["run_id"] == run.info.run_id and row["status"] == "FINISHED"
        assert row["config"] == json.loads(run.data.tags["tfcli.config"])
        assert row["metrics"] == pytest.approx(run.data.metrics)
        assert row["duration_s"] == (run.info.end_time - run.info.start_time) / 1000
        d = row["config"]["model.d_model"]
        assert row["parameters"] == {16: 10944, 32: 27904}[d]  # counted from checkpoint/config.json
    assert payload["apart"] == [] and payload["metric"] == "chrf" and payload["mode"] == "max"
    assert payload["study"]["name"] == real_study.name and payload["trials"] == 3
    # significance: the top trial against the other two, on the saved validation outputs
    sig = payload["significance"]
    assert sig["metric"] == "chrf" and sig["top_trial"] == expected[0][0] and sig["examples"] == 16
    assert [t["other_trial"] for t in sig["tests"]] == [expected[1][0], expected[2][0]]
    for test in sig["tests"]:
        assert test["diff"] == pytest.approx(test["score_top"] - test["score_other"])
        assert test["ci_low"] <= test["diff"] <= test["ci_high"]
        assert 0 < test["p_value"] <= 1 and test["significant"] == (test["p_value"] < 0.05)
    assert sig["tests"][0]["score_top"] == pytest.approx(expected[0][1])
    # importance: over the finished trials
    importance = payload["importance"]
    assert importance["trials"] == 3
    assert importance["note"] is not None or set(importance["importances"]) <= {"train.lr", "model.d_model"}


def test_other_metrics_rank_by_their_best_or_last_value(cli, real_study):
    client, _, runs = mlflow_children(real_study)
    best = report(cli, real_study, "--metric", "loss", "--format", "json", "--no-significance", "--no-importance")
    assert best.exit_code == 0, best.stderr
    payload = json.loads(best.stdout)
    assert payload["mode"] == "min"
    expected = sorted(
        ((r.data.tags["tfcli.trial_id"], min(m.value for m in client.get_metric_history(r.info.run_id, "loss"))) for r in runs),
        key=lambda t: t[1],
    )
    assert [(r["trial_id"], r["value"]) for r in payload["ranked"]] == expected
    last = json.loads(report(cli, real_study, "--metric", "loss", "--at", "last", "--format", "json", "--no-significance", "--no-importance").stdout)
    assert sorted((r["trial_id"], r["value"]) for r in last["ranked"]) == sorted((r.data.tags["tfcli.trial_id"], r.data.metrics["loss"]) for r in runs)
    assert all(r["step"] == 20 for r in last["ranked"])
    # loss has no paired test
    skipped = json.loads(report(cli, real_study, "--metric", "loss", "--format", "json", "--no-importance").stdout)
    assert "loss is not computed from outputs" in skipped["significance"]["note"]


def test_csv_parses_and_markdown_is_a_table(cli, real_study):
    expected = expected_ranking(real_study)
    result = report(cli, real_study, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["rank", "trial", "chrf", "step", "train.lr", "model.d_model", "time_s", "parameters", "status"]
    assert [(int(r["rank"]), r["trial"], float(r["chrf"]), int(r["step"])) for r in rows] == [
        (i + 1, run.data.tags["tfcli.trial_number"], v, s) for i, (_, v, s, run) in enumerate(expected)
    ]  # a trial is shown by its number (0, 1, ... in start order)
    md = report(cli, real_study, "--format", "markdown")
    assert md.exit_code == 0, md.stderr
    lines = md.stdout.splitlines()
    start = lines.index("| rank | trial | chrf | step | train.lr | model.d_model | time | parameters | status |")
    assert lines[start + 1] == "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    assert [line.split(" | ")[1] for line in lines[start + 2 : start + 5]] == [run.data.tags["tfcli.trial_number"] for *_, run in expected]
    assert any(line.startswith("### Significance (chrf, paired bootstrap)") for line in lines)
    table = report(cli, real_study, "--top", "2", "--columns", "rank,trial,chrf,bleu,run_id")
    assert table.exit_code == 0, table.stderr
    assert expected[0][3].info.run_id in table.stdout and expected[2][3].info.run_id not in table.stdout.split("Significance")[0]


def test_html_page_holds_the_plots_and_is_an_artifact_of_the_parent_run(cli, real_study, tmp_path):
    from tfcli import tracking as tr

    out = tmp_path / "report.html"
    result = report(cli, real_study, "--format", "html", "--out", out)
    assert result.exit_code == 0, result.stderr
    page = out.read_text()
    plots = ("learning-curves", "loss-curves", "parallel-coordinates", "parameter-slices", "importance", "objective-by-trial")
    for div in plots:
        assert f'id="{div}"' in page
    extra = [div for div in ("validation-vs-test", "confirmed") if f'id="{div}"' in page]
    assert page.count("Plotly.newPlot") == len(plots) + len(extra)
    assert 'id="pareto-front"' not in page  # one objective: no Pareto plot
    assert 'id="best-configuration"' in page
    assert re.search(r'"type":"log"', page)  # train.lr is log_uniform: a log axis
    assert "train_loss" not in page or "training (solid)" in page
    assert not re.search(r"<script[^>]*\bsrc=", page)  # plotly.js is inlined, nothing is fetched
    assert len(page) > 1_000_000
    expected = expected_ranking(real_study)
    curves = re.findall(r'"name":"#(\d) trial (\w+)"', page)  # one learning curve per ranked trial, best first, by number
    assert curves == [(str(i + 1), run.data.tags["tfcli.trial_number"]) for i, (*_, run) in enumerate(expected)]
    assert sorted(re.findall(r'"label":"([\w.]+)"', page)) == ["chrf", "model.d_model", "train.lr"]  # parallel coordinates
    parent = tr.find_study(real_study.tracking, real_study.name)
    assert "report.html" in tr.list_run_artifacts(real_study.tracking, parent.info.run_id)
    logged = tr.download_run_artifact(real_study.tracking, parent.info.run_id, "report.html", tmp_path / "logged")
    assert logged.read_text() == page
    assert parent.info.status == "FINISHED"  # logging the page did not reopen the run


def test_where_filters_and_meteor_note(cli, real_study):
    from tfcli.metrics import METEOR_NOTE

    payload = json.loads(report(cli, real_study, "--format", "json", "--where", "model.d_model>=32", "--no-significance", "--no-importance").stdout)
    assert payload["ranked"] and all(r["config"]["model.d_model"] >= 32 for r in payload["ranked"])
    assert payload["filtered_out"] == 3 - len(payload["ranked"]) and payload["where"] == ["model.d_model>=32"]
    none = json.loads(report(cli, real_study, "-f", "json", "-w", "status=FAILED", "--no-significance", "--no-importance").stdout)
    assert none["ranked"] == [] and none["apart"] == [] and none["filtered_out"] == 3
    meteor = report(cli, real_study, "--metric", "meteor", "--no-importance")
    assert meteor.exit_code == 0, meteor.stderr
    assert METEOR_NOTE in " ".join(meteor.stdout.split())
    assert METEOR_NOTE in report(cli, real_study, "--metric", "meteor", "-f", "csv").stderr


def test_user_errors_are_one_line_and_exit_2(cli, real_study):
    unknown = cli("report", "no-such-study", "--tracking-uri", real_study.uri)
    assert unknown.exit_code == 2 and "Traceback" not in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert "no study named 'no-such-study'" in unknown.stderr and "known studies: " in unknown.stderr and real_study.name in unknown.stderr
    metric = report(cli, real_study, "--metric", "rouge1")
    assert metric.exit_code == 2 and len(metric.stderr.strip().splitlines()) == 1
    line = metric.stderr.strip()
    assert line.startswith("error: the metric must be one the study logged (bleu, chrf, ") and line.endswith("), but got 'rouge1'")
    assert all(name in line for name in ("loss", "meteor", "ter"))
    where = report(cli, real_study, "--where", "model.d_model>>3")
    assert where.exit_code == 2
    assert where.stderr == "error: --where model.d_model>>3: > compares numbers, but got the text '>3'; use = or != for text\n"
    columns = report(cli, real_study, "--columns", "rank,nope")
    assert columns.exit_code == 2 and "'nope'" in columns.stderr


def test_failed_and_killed_trials_are_listed_apart_and_studies_compare(cli, real_study):
    spec = json.dumps({"search": {"parameters": {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}}}})
    synthetic_study(
        real_study.tracking,
        "apart",
        [
            {"config": {"train.lr": 0.001}, "history": {"bleu": [(10, 5.0), (20, 7.0)]}, "objective_value": 7.0, "objective_step": 20},
            {"status": "FAILED", "config": {"train.lr": 0.01}, "history": {"bleu": [(10, 9.0)]}, "error": "ValueError: boom"},
            {"status": "KILLED", "config": {"train.lr": 0.002}, "history": {"bleu": [(10, 1.0)]}},
            {"status": "RUNNING", "config": {"train.lr": 0.003}, "history": {"bleu": [(10, 3.0), (20, 8.0), (30, 2.0)]}},
        ],
        spec_json=spec,
    )
    payload = json.loads(cli("report", "apart", "--tracking-uri", real_study.uri, "-f", "json").stdout)
    assert [(r["trial_id"], r["value"], r["step"], r["status"]) for r in payload["ranked"]] == [
        ("syn_00003", 8.0, 20, "RUNNING"),  # best from the history: a running trial has no objective tag yet
        ("syn_00000", 7.0, 20, "FINISHED"),
    ]
    assert [(r["trial_id"], r["status"], r["error"]) for r in payload["apart"]] == [("syn_00001", "FAILED", "ValueError: boom"), ("syn_00002", "KILLED", None)]
    assert "no saved validation outputs" in payload["significance"]["note"]
    assert "at least 2 finished trials" in payload["importance"]["note"]
    table = cli("report", "apart", "--tracking-uri", real_study.uri)
    assert "Failed, killed and without a value" in table.stdout and "ValueError: boom" in table.stdout

    both = cli("report", real_study.name, "apart", "--tracking-uri", real_study.uri, "-f", "json")
    assert both.exit_code == 0, both.stderr
    studies = json.loads(both.stdout)["studies"]
    best = expected_ranking(real_study)[0]
    assert [(s["study"]["name"], s["metric"], s["best"]["trial_id"], s["best"]["value"]) for s in studies] == [
        (real_study.name, "chrf", best[0], best[1]),
        ("apart", "bleu", "syn_00003", 8.0),
    ]
    assert studies[0]["best"]["config"] == json.loads(best[3].data.tags["tfcli.config"])
    text = cli("report", real_study.name, "apart", "--tracking-uri", real_study.uri, "-f", "markdown").stdout
    assert "| study | task | metric | mode | best | trial | step | finished |" in text.splitlines()[2]
