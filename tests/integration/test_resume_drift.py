"""Issue 25: `resume` of a study whose file was edited says which fields differ and that the
stored study runs (the edit is not what resumes)."""

from __future__ import annotations

import signal

import pytest

from tests.integration.test_crash_windows import tfcli, write_study

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_resume_names_the_edited_fields_and_runs_the_stored_study(project):
    path = write_study(project, "drift")
    crashed = tfcli(project, "study", "start", "drift.yaml", crash_at="after_parent_run")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr

    path.write_text(path.read_text().replace("lr: 3.0e-3", "lr: 1.0e-3").replace("num_samples: 1", "num_samples: 3"))
    resumed = tfcli(project, "study", "resume", "drift")
    notice = next((line for line in resumed.stderr.splitlines() if "changed since study" in line), None)
    assert notice is not None, resumed.stderr
    assert "search.num_samples, train.lr" in notice and "resume runs the study as it was started" in notice, notice
    assert notice.startswith("drift.yaml changed"), notice

    path.write_text(path.read_text().replace("lr: 1.0e-3", "lr: 3.0e-3").replace("num_samples: 3", "num_samples: 1"))
    again = tfcli(project, "study", "resume", "drift")
    assert "changed since study" not in again.stderr, again.stderr
