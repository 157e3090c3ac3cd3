"""Issue 18: ``tfcli report`` shows the baselines logged on a study's parent run as rows apart
from the ranking, warns when the best trial does not beat the best baseline, and tests the
winner against it; the parent run's metrics come back through both readers of the store.

The store is built with MLflow's client (no Ray): a synthetic study, its baselines logged with
:func:`tfcli.tracking.baselines.log_baselines`, and the top trial's validation outputs.
"""

from __future__ import annotations

import json

import pytest

from tests.report.conftest import synthetic_study
from tests.tracking.test_tracking import _empty_store_db, store  # noqa: F401 - fixtures
from tfcli.baselines.compute import score_baselines
from tfcli.data.examples import Seq2SeqExample, Splits
from tfcli.spec.schema import StudySpec

pytestmark = pytest.mark.timeout(180)

PAIRS = [("the red house", "the red house"), ("a big dog", "a big dog"), ("blue sky today", "blue sky"),
         ("one two three four", "one two three four"), ("green tea", "green tea please"), ("we go home now", "we go home")]
SPLITS = Splits(
    train=[Seq2SeqExample(s, t) for s, t in PAIRS],
    valid=[Seq2SeqExample(s, t) for s, t in PAIRS],
    test=[Seq2SeqExample(s, t) for s, t in PAIRS[:3]],
)
SPEC = StudySpec.model_validate({"name": "b", "task": {"type": "translation", "data": "builtin:dates"}, "objective": {"metric": "chrf", "mode": "max"}})
#: The top trial's validation outputs: half right, so every baseline (which copies) beats it.
TRIAL_PREDICTIONS = ["the red house", "a big cat", "blue", "one two", "tea", "we go"]


def trial_chrf() -> float:
    from tfcli.metrics import compute_metrics

    return compute_metrics("translation", TRIAL_PREDICTIONS, [[t] for _, t in PAIRS], metrics=["chrf"]).scores["chrf"]


def make_study(store, name: str, top_value: float, tmp_path):
    """A synthetic study (two finished trials, the top one with value ``top_value`` and saved
    validation outputs) with the baselines of :data:`SPLITS` logged on its parent run."""
    from tfcli import tracking as tr
    from tfcli.tracking.baselines import log_baselines

    trials = [
        {"status": "FINISHED", "config": {"train.lr": 0.0}, "history": {"chrf": [(10, top_value)]}, "objective_value": top_value, "objective_step": 10},
        {"status": "FINISHED", "config": {"train.lr": 0.1}, "history": {"chrf": [(10, top_value / 2)]}, "objective_value": top_value / 2, "objective_step": 10},
    ]
    synthetic_study(store, name, trials, objective="chrf", mode="max")
    snapshot = tr.load_study(store, name)
    results = score_baselines(SPEC, SPLITS)
    log_baselines(store, snapshot.study.run_id, results)
    top = next(r for r in snapshot.trials if r.trial_id == "syn_00000")
    outputs = tmp_path / name / tr.VALID_OUTPUTS_FILE
    outputs.parent.mkdir(parents=True)
    outputs.write_text("".join(json.dumps({"index": i, "source": s, "reference": t, "prediction": p}) + "\n"
                               for i, ((s, t), p) in enumerate(zip(PAIRS, TRIAL_PREDICTIONS))))
    client = store.client()
    client.log_artifact(top.run_id, str(outputs), tr.CHECKPOINT_ARTIFACT_PATH)
    client.set_tag(top.run_id, tr.TAG_CHECKPOINT, tr.CHECKPOINT_ARTIFACT_PATH)
    return results


def best_valid(results, metric="chrf"):
    return max((r for r in results if r.split == "valid"), key=lambda r: r.metrics[metric])


def test_json_lists_baselines_apart_warns_and_tests_the_winner_against_the_best(cli, store, tmp_path):
    value = trial_chrf()
    results = make_study(store, "below", value, tmp_path)
    best = best_valid(results)
    assert best.metrics["chrf"] > value  # the premise: the trials are worse
    out = cli("report", "below", "--tracking-uri", store.uri, "--format", "json")
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert [r["trial_id"] for r in payload["ranked"]] == ["syn_00000", "syn_00001"]  # baselines are never ranked
    assert payload["apart"] == []
    listed = {(b["name"], b["split"]): b["metrics"] for b in payload["baselines"]}
    assert set(listed) == {(r.name, r.split) for r in results}
    for r in results:
        assert listed[(r.name, r.split)] == pytest.approx(dict(r.metrics))
    comparison = payload["baseline_comparison"]
    assert (comparison["baseline"], comparison["beaten"]) == (best.name, False)
    assert comparison["margin"] == pytest.approx(value - best.metrics["chrf"])
    [warning] = payload["warnings"]
    assert f"does not beat the best baseline {best.name}" in warning and f"{best.metrics['chrf'] - value:.4g} below it" in warning
    tests = {t["other_trial"]: t for t in payload["significance"]["tests"]}
    against = tests[f"baseline {best.name}"]
    assert against["other_rank"] is None and against["note"] is None
    assert against["score_other"] == pytest.approx(best.metrics["chrf"]) and against["score_top"] == pytest.approx(value)
    assert against["diff"] == pytest.approx(value - best.metrics["chrf"])
    assert tests["syn_00001"]["note"] == "no saved validation outputs"


def test_table_and_markdown_show_the_baselines_and_the_warning(cli, store, tmp_path):
    make_study(store, "below-md", trial_chrf(), tmp_path)
    table = cli("report", "below-md", "--tracking-uri", store.uri, "--no-importance")
    assert table.exit_code == 0, table.output
    assert "Baselines (not ranked" in table.stdout and "copy_source" in table.stdout
    assert "Warning: the best trial syn_00000" in table.stdout
    markdown = cli("report", "below-md", "--tracking-uri", store.uri, "--format", "markdown", "--no-importance")
    assert "### Baselines (not ranked" in markdown.stdout and "| word_by_word |" in markdown.stdout
    assert "**Warning:** the best trial syn_00000" in markdown.stdout
    assert "syn_00000 vs baseline " in markdown.stdout  # the bootstrap row, without a rank


def test_no_warning_when_the_best_trial_beats_every_baseline(cli, store, tmp_path):
    results = make_study(store, "above", 99.0, tmp_path)
    payload = json.loads(cli("report", "above", "--tracking-uri", store.uri, "--format", "json", "--no-significance").stdout)
    assert payload["warnings"] == []
    assert payload["baseline_comparison"]["beaten"] is True
    assert payload["baseline_comparison"]["margin"] == pytest.approx(99.0 - best_valid(results).metrics["chrf"])


def test_html_draws_each_baseline_as_a_dashed_line_on_the_curves_and_the_objective_plot(store, tmp_path):
    from tfcli.report.build import build_report
    from tfcli.report.html import learning_curves, objective_by_trial, render_html

    results = make_study(store, "below-html", trial_chrf(), tmp_path)
    report = build_report(store, "below-html", curves=True, with_importance=False)
    valid = {r.name: r.metrics["chrf"] for r in results if r.split == "valid"}
    for figure in (learning_curves(report), objective_by_trial(report)):
        lines = {shape.y0: shape.line.dash for shape in figure.layout.shapes}
        assert lines == {value: "dash" for value in valid.values()}
    page = render_html(report)
    assert "Warning: the best trial syn_00000" in page and "Baselines (not ranked" in page


def test_the_parent_runs_metrics_come_back_through_both_readers(store, tmp_path, monkeypatch):
    from tfcli import tracking as tr
    from tfcli.tracking import sqlite_reader
    from tfcli.tracking.baselines import baselines_from_metrics

    results = make_study(store, "readers", 10.0, tmp_path)
    direct = tr.load_study(store, "readers").study
    monkeypatch.setattr(sqlite_reader, "open_store", lambda tracking: None)  # every read through MLflow's client
    through_mlflow = tr.load_study(store, "readers").study
    assert direct.metrics and direct.metrics == through_mlflow.metrics
    read = baselines_from_metrics(direct.metrics)
    assert [(r.name, r.split) for r in read] == [(r.name, r.split) for r in results]
    assert all(a.metrics == pytest.approx(dict(b.metrics)) for a, b in zip(read, results))
    assert "baseline/copy_source/chrf" in direct.metrics and "baseline/copy_source/test/chrf" in direct.metrics
