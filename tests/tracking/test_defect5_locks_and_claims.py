"""Issue 16, defect 5: one driver per study; a shared store's study name is claimed once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfcli.errors import StudyError
from tfcli.spec.schema import StudySpec
from tfcli.tracking.claims import create_study_run
from tfcli.tracking.locks import study_lock, study_lock_path
from tfcli.tracking.store import ensure_experiment, resolve_tracking

pytestmark = pytest.mark.timeout(120)

HOLD = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1]); lock.acquire(); print("held", flush=True); time.sleep(60)
"""


def spec(name="claimed"):
    return StudySpec.model_validate({"name": name, "task": {"type": "translation", "data": "builtin:dates"}})


def test_a_study_held_by_another_process_is_refused_at_once(tmp_path):
    tracking = resolve_tracking(f"sqlite:///{tmp_path}/mlflow.db")
    path = study_lock_path(tracking.sqlite_path, "s")
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(StudyError, match="being run by another tfcli process"):
            with study_lock(tracking, "s"):
                pass
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    with study_lock(tracking, "s"):  # released when its holder died (SIGKILL)
        pass


def test_the_lock_is_one_per_study_and_reentrant_across_calls(tmp_path):
    tracking = resolve_tracking(f"sqlite:///{tmp_path}/mlflow.db")
    with study_lock(tracking, "a"), study_lock(tracking, "b"):
        pass
    assert study_lock_path(None, "a") is None, "a server store has no lock file"


def test_the_second_parent_run_of_a_name_deletes_itself(tmp_path):
    tracking = resolve_tracking(f"sqlite:///{tmp_path}/mlflow.db")
    client = tracking.client()
    experiment = ensure_experiment(tracking, "claimed", client)
    earlier = client.create_run(experiment, start_time=1000, tags={"tfcli.role": "study", "tfcli.study_id": "other"})
    with pytest.raises(StudyError, match="started by another driver"):
        create_study_run(tracking, spec(), "mine", {})
    active = client.search_runs([experiment])
    assert [r.info.run_id for r in active] == [earlier.info.run_id]


def test_a_first_parent_run_carries_the_spec_and_the_starting_phase(tmp_path):
    tracking = resolve_tracking(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = create_study_run(tracking, spec(), "mine", {"tfcli.ray_storage": "/x"})
    tags = tracking.client().get_run(run_id).data.tags
    assert tags["tfcli.phase"] == "starting" and tags["tfcli.study_id"] == "mine"
    assert "tfcli.spec_json" not in tags  # the spec is the spec.json artifact, not a tag that clutters MLflow's tag list
    spec_text = Path(tracking.client().download_artifacts(run_id, "spec.json", str(tmp_path))).read_text()
    assert StudySpec.model_validate_json(spec_text).name == "claimed"
