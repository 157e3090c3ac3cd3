"""Issue 24, acceptance 3: in a study with two objectives, a trial that diverges is recorded as
failed with its reason (the worst value of each objective, the DivergedError's line), not as a
TypeError raised inside its own failure handler; the study exits 1."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import study_runs, study_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

OBJECTIVES = "objective: [{metric: f1, mode: max}, {metric: decode_ms_per_example, mode: min}]\n"


def test_a_diverged_trial_of_a_two_objective_study_fails_with_its_reason(project, ray_session, cli):
    text = study_text(
        "mo-diverge",
        task="qa",
        data="facts",
        method="grid",
        samples=1,
        scheduler="{type: fifo}",
        parameters="    train.lr: {values: [3.0e-3, 10.0]}",
        train_extra=", grad_clip: 0, schedule: constant, adam_beta2: 0.0, label_smoothing: 0.0",
    ) + OBJECTIVES
    (project / "s.yaml").write_text(text)
    result = cli("study", "start", "s.yaml", "--no-baselines")
    assert result.exit_code == 1, result.output + result.stderr
    assert "TypeError" not in result.output + result.stderr
    _, children = study_runs(project, "mo-diverge")
    by_lr = {c.data.params["train.lr"]: c for c in children}
    assert set(by_lr) == {"0.003", "10.0"}
    assert by_lr["0.003"].info.status == "FINISHED"
    diverged = by_lr["10.0"]
    assert diverged.info.status == "FAILED"
    assert "diverged" in diverged.data.tags["tfcli.error"] and "DivergedError" in diverged.data.tags["tfcli.error"], diverged.data.tags["tfcli.error"]

    report = cli("report", "mo-diverge", "--format", "json", "--no-significance")
    assert report.exit_code == 0, report.stderr
    apart = {row["run_id"]: row for row in json.loads(report.stdout)["apart"]}
    failed = apart[diverged.info.run_id]
    assert failed["state"] == "failed" and "DivergedError" in failed["error"]
