"""Issue 16, defect 3: resume reads Ray's saved state before trusting it, and a rebuild
knows which configurations a study still owes."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.study.conftest import make_spec
from tfcli.study.ray_state import drop_gone_checkpoints, ray_state_problem, saved_trial_ids
from tfcli.study.space import rebuild_configs

pytestmark = pytest.mark.timeout(60)


def write_state(folder, trial_ids, name="experiment_state-2026-12-02_10-00-00.json"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tuner.pkl").write_bytes(b"pickle")
    entries = [[json.dumps({"trial_id": t, "stub": False}), "{}"] for t in trial_ids]
    (folder / name).write_text(json.dumps({"trial_data": entries, "runner_data": {}, "stats": {}}))
    return folder / name


def test_a_sound_state_is_accepted_and_its_trials_read(tmp_path):
    state = write_state(tmp_path / "exp", ["ab12c_00000", "ab12c_00001"])
    assert saved_trial_ids(state) == ["ab12c_00000", "ab12c_00001"]
    assert ray_state_problem(str(tmp_path / "exp"), {"ab12c_00000"}) is None


def test_nothing_saved_is_a_problem(tmp_path):
    assert "saved nothing" in ray_state_problem(str(tmp_path / "none"))


def test_tuner_without_experiment_state_is_a_problem(tmp_path):
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "tuner.pkl").write_bytes(b"x")
    assert "no experiment state" in ray_state_problem(str(folder))


@pytest.mark.parametrize("text", ["", "{", '{"runner_data": {}}', '{"trial_data": [["{}", "{}"]]}', '{"trial_data": 3}'])
def test_a_damaged_state_is_a_problem(tmp_path, text):
    state = write_state(tmp_path / "exp", [])
    state.write_text(text)
    assert "damaged" in ray_state_problem(str(tmp_path / "exp"))


def test_a_state_older_than_mlflow_is_a_problem(tmp_path):
    write_state(tmp_path / "exp", ["ab12c_00000"])
    problem = ray_state_problem(str(tmp_path / "exp"), {"ab12c_00000", "ab12c_00001", "ff000_00000"})
    assert "lacks finished trial(s) ab12c_00001" in problem
    assert "ff000" not in problem, "trials of the study's other Tune experiments are not this state's"


def test_the_state_file_tune_restores_from_is_read(tmp_path):
    """Tune restores from the greatest name (its session's start time), whatever the mtimes."""
    import os

    old = write_state(tmp_path / "exp", ["ab12c_00000"], "experiment_state-2026-12-02_10-00-00.json")
    new = write_state(tmp_path / "exp", ["ab12c_00000", "ab12c_00001"], "experiment_state-2026-12-02_11-00-00.json")
    os.utime(new, (1, 1))
    os.utime(old, (2, 2))
    assert ray_state_problem(str(tmp_path / "exp"), {"ab12c_00001"}) is None


def grid_spec():
    return make_spec(search={"method": "grid", "num_samples": 2, "parameters": {"train.lr": {"values": [1e-3, 2e-3, 3e-3]}}})


def test_rebuild_of_a_grid_runs_the_points_no_finished_trial_covers():
    spec = grid_spec()
    finished = [{"train.lr": 1e-3}, {"train.lr": 3e-3}, {"train.lr": 1e-3}]
    owed = rebuild_configs(spec, finished, [{"train.lr": 2e-3}], remaining=3)
    assert sorted(c["train.lr"] for c in owed) == [2e-3, 2e-3, 3e-3]


def test_rebuild_of_a_random_search_reruns_the_unfinished_configurations():
    spec = make_spec(search={"parameters": {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}}})
    unfinished = [{"train.lr": 5e-4, "model.d_model": 64}, {"train.lr": 7e-4}]
    assert rebuild_configs(spec, [], unfinished, remaining=1) == [{"train.lr": 5e-4}]


def test_unfinished_trials_the_state_never_saved_are_orphans(tmp_path):
    from tfcli.study.ray_state import orphan_trial_ids

    write_state(tmp_path / "exp", ["ab12c_00000"])
    found = orphan_trial_ids(str(tmp_path / "exp"), {"ab12c_00000", "ab12c_00001", "ff000_00003"})
    assert found == {"ab12c_00001"}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("keep", [1, None], ids=["only-the-latest-kept", "all-kept"])
def test_a_trial_whose_latest_checkpoint_ray_deleted_resumes(tmp_path, ray_session, keep):
    """Ray deletes a superseded checkpoint as it registers the next one and saves its state a
    moment later; a driver killed in between leaves a state naming a checkpoint that is gone
    (CI saw it: "Could not recover from checkpoint as it does not exist on storage anymore").
    Here the trial's newest checkpoint is deleted after the fact, which is the same state."""
    from ray import tune

    from tests.study import fakes

    config = {"marker": str(tmp_path / "died"), "steps": 5, "die_after": 3}
    run_config = tune.RunConfig(
        name="gone", storage_path=str(tmp_path), verbose=0,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=keep, checkpoint_score_attribute="step", checkpoint_score_order="max"),
    )
    tune.Tuner(fakes.checkpoints_then_dies, param_space=config, run_config=run_config).fit()
    experiment = tmp_path / "gone"
    (checkpoint,) = experiment.glob("*/checkpoint_000002")
    shutil.rmtree(checkpoint)
    assert drop_gone_checkpoints(str(tmp_path / "nothing-here")) == []

    lines = drop_gone_checkpoints(str(experiment))

    assert len(lines) == 1 and "checkpoint_000002 is gone" in lines[0]
    assert ("continues from checkpoint_000001" if keep is None else "starts again") in lines[0]
    assert drop_gone_checkpoints(str(experiment)) == [], "a repaired state needs no repair"
    restored = tune.Tuner.restore(str(experiment), trainable=fakes.checkpoints_then_dies, resume_errored=True)
    (result,) = restored.fit()
    assert result.error is None, result.error
    assert result.metrics["step"] == 5
    assert result.metrics["started_from"] == (2 if keep is None else 0)


def test_a_search_state_cut_anywhere_is_damaged(tmp_path):
    """Tune's search state is a pickle (named .json); a copy cut at any byte is found, also
    right after a '.' in "train.lr" (the STOP opcode's byte), without unpickling it."""
    from ray import cloudpickle

    write_state(tmp_path / "exp", ["ab12c_00000"])
    data = cloudpickle.dumps({"points": [{"train.lr": 0.001 * i} for i in range(20)], "finished": True})
    state = tmp_path / "exp" / "basic-variant-state-2026-12-02_10-00-00.json"
    state.write_bytes(data)
    assert ray_state_problem(str(tmp_path / "exp")) is None
    for cut in range(len(data)):
        state.write_bytes(data[:cut])
        problem = ray_state_problem(str(tmp_path / "exp"))
        assert problem is not None and "search state" in problem and "cut short" in problem, cut
