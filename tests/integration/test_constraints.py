"""``search.constraints`` end to end (real Ray, the real trainable, a real MLflow store): one tiny
tpe study whose four known starting points cross d_model 16 and 64 (10 944 and 80 256
parameters) with a learning rate that trains (validation loss about 4.6 after 10 steps) and one
that does not (about 5.7). ``parameters <= 50000`` refuses both d_model 64 configurations before
they train a step; ``loss >= 5`` makes the trial that trains, the one every best would otherwise
pick (lower loss breaks the tie of BLEU 0), infeasible. The report lists both kinds apart with
what they broke; the summary, the parent run, ``study best`` and ``export`` name the one feasible trial."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.integration.conftest import store_client, study_runs, study_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

POINTS = "[{model.d_model: 16, train.lr: 3.0e-3}, {model.d_model: 64, train.lr: 3.0e-3}, {model.d_model: 16, train.lr: 1.0e-7}, {model.d_model: 64, train.lr: 1.0e-7}]"


def test_constraints_refuse_before_training_and_keep_infeasible_trials_apart(project, ray_session, cli):
    text = study_text(
        "lim", method="tpe", samples=4, steps=10, scheduler="{type: fifo}",
        parameters="    model.d_model: {values: [16, 64]}\n    train.lr: {values: [3.0e-3, 1.0e-7]}",
    ).replace("  seed: 5\n", f"  seed: 5\n  initial: {POINTS}\n  constraints: ['parameters <= 50000', 'loss >= 5']\n")
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
