"""Bad input stops a study before any trial starts: one line, exit code 2."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import study_runs, study_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_unreachable_address_fails_within_30_seconds(project, cli):
    (project / "s.yaml").write_text(study_text("addr"))
    started = time.monotonic()
    result = cli("study", "start", "s.yaml", "--address", "127.0.0.1:9")
    assert time.monotonic() - started < 30
    assert result.exit_code == 2, result.output + result.stderr
    assert "127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_tracking_store(project, cli):
    (project / "s.yaml").write_text(study_text("store"))
    (project / "blocker").write_text("a file where a folder should be")
    result = cli("study", "start", "s.yaml", "--tracking-uri", f"sqlite:///{project}/blocker/mlflow.db")
    assert result.exit_code == 2, result.output + result.stderr
    assert "blocker" in result.stderr and "Traceback" not in result.stderr


def test_existing_name_with_another_study_file_and_unknown_resume(project, ray_session, cli):
    (project / "s.yaml").write_text(study_text("taken", samples=1, steps=10, scheduler="{type: fifo}"))
    assert cli("study", "start", "s.yaml").exit_code == 0

    (project / "s.yaml").write_text(study_text("taken", samples=1, steps=10, scheduler="{type: fifo}").replace("lr: 3.0e-3", "lr: 1.0e-3"))
    result = cli("study", "start", "s.yaml")
    assert result.exit_code == 2
    assert "different study file" in result.stderr
    assert "tfcli study resume taken" in result.stderr and "name:" in result.stderr
    assert len(study_runs(project, "taken")[1]) == 1

    unknown = cli("study", "resume", "nothing-here")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == f"error: no study named 'nothing-here' in sqlite:///{project}/mlruns/mlflow.db; known studies: taken"

    status = cli("study", "status", "nothing-here")
    assert status.exit_code == 2 and "known studies: taken" in status.stderr
