"""A store copied or moved to another folder still names the old artifact folder (MLflow keeps
absolute paths): every command refuses it in one line instead of writing into the old place."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tfcli.errors import StudyError
from tfcli.tracking import check_tracking, ensure_experiment, resolve_tracking

pytestmark = pytest.mark.timeout(120)


def make_store(folder: Path) -> None:
    """A store with one study experiment holding one artifact, as a study leaves it."""
    tracking = check_tracking(resolve_tracking(None, cwd=folder))
    client = tracking.client()
    experiment = ensure_experiment(tracking, "moved-study", client)
    run = client.create_run(experiment)
    note = folder / "note.txt"
    note.write_text("hello")
    client.log_artifact(run.info.run_id, str(note))
    client.set_terminated(run.info.run_id)
    assert (folder / "mlruns" / "artifacts" / "moved-study").is_dir()


def tfcli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "tfcli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=100)


@pytest.mark.parametrize("old_one", ["deleted", "kept"])
def test_a_moved_or_copied_store_is_refused_in_one_line(tmp_path, monkeypatch, old_one):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    make_store(old)
    assert check_tracking(resolve_tracking(None, cwd=old))  # where it was made, it is fine
    shutil.copytree(old, new)
    if old_one == "deleted":
        shutil.rmtree(old)

    with pytest.raises(StudyError, match="was moved or copied: study 'moved-study' keeps its artifacts at "):
        check_tracking(resolve_tracking(None, cwd=new))
    for command in (("report", "moved-study"), ("export", "moved-study", "--out", "x")):  # read through SQLite, not MLflow
        refused = tfcli(new, *command)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.count("\n") == 1 and str(old / "mlruns" / "artifacts" / "moved-study") in refused.stderr
        assert "Traceback" not in refused.stderr and not (new / "x").exists()


def test_a_store_in_its_own_folder_passes_whatever_other_experiments_hold(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    make_store(tmp_path)
    tracking = resolve_tracking(None, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    tracking.client().create_experiment("plain-mlflow", artifact_location=str(elsewhere))  # not a study's: left alone
    assert check_tracking(tracking) == tracking
