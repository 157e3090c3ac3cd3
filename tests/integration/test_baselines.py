"""Issue 18: a study's parent run carries the task's baselines, and the report warns when
every trial is below them (real Ray, real MLflow)."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import study_runs, study_text
from tests.integration.test_crash_windows import tfcli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ONE_CONFIG = """\
    model.d_model: {values: [16]}"""


def test_baselines_are_logged_and_the_report_warns_when_trials_are_below(project):
    text = study_text("floor", samples=1, steps=10, scheduler="{type: fifo}", parameters=ONE_CONFIG)
    (project / "f.yaml").write_text(text.replace("lr: 3.0e-3", "lr: 1.0e-9"))  # learns nothing on purpose
    started = tfcli(project, "study", "start", "f.yaml")
    assert started.returncode == 0, started.stdout + started.stderr
    parent = study_runs(project, "floor")[0][0]
    logged = {k for k in parent.data.metrics if k.startswith("baseline/")}
    assert {"baseline/copy_source/bleu", "baseline/copy_source/test/bleu"} <= logged, logged

    report = tfcli(project, "report", "floor", "--format", "json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    names = {b["name"] for b in data["baselines"]}
    assert "copy_source" in names
    assert len(data["ranked"]) == 1 and not data["ranked"][0]["trial_id"].startswith("baseline"), "baselines are never ranked"
    assert any("baseline" in w for w in data["warnings"]), data["warnings"]

    (project / "g.yaml").write_text(text.replace("name: floor", "name: nofloor"))
    skipped = tfcli(project, "study", "start", "g.yaml", "--no-baselines")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert not [k for k in study_runs(project, "nofloor")[0][0].data.metrics if k.startswith("baseline/")]
