"""One storage resolution for start, resume and extend: URIs reach Ray untouched.

No Ray runtime and no network: the seams in tfcli that hand the storage to Ray
(``runner._new_tuner`` / ``runner._restored_tuner``) are replaced to capture what they get.
"""

from __future__ import annotations

import contextlib
import types

import pytest

from tests.study.conftest import make_spec
from tfcli.study import lifecycle, runner
from tfcli.study.storage import default_storage, experiment_names, experiment_path, resolve_storage


def test_resolve_storage_passes_uris_through_and_makes_folders_absolute(tmp_path, monkeypatch):
    assert resolve_storage("s3://bucket/x") == "s3://bucket/x"
    assert resolve_storage("s3://bucket/x/") == "s3://bucket/x"
    assert resolve_storage("file:///tmp/ray") == "file:///tmp/ray"
    monkeypatch.chdir(tmp_path)
    assert resolve_storage("rel/ray") == str(tmp_path.resolve() / "rel" / "ray")
    assert resolve_storage(None) == default_storage() == str(tmp_path.resolve() / "mlruns" / "ray")
    assert experiment_path("st", "s3://bucket/x/") == "s3://bucket/x/st"


def test_experiment_names_lists_folders_and_uris(tmp_path):
    (tmp_path / "st").mkdir()
    (tmp_path / "st-ext1").mkdir()
    (tmp_path / "file.txt").write_text("x")
    assert experiment_names(str(tmp_path)) == ["st", "st-ext1"]
    assert experiment_names(tmp_path.as_uri()) == ["st", "st-ext1"]
    assert experiment_names((tmp_path / "missing").as_uri()) == []
    assert lifecycle.extension_names("st", tmp_path.as_uri()) == ["st-ext1"]


def test_the_run_config_keeps_a_storage_uri():
    config = runner._run_config(make_spec(), "st", "s3://bucket/x")
    assert config.storage_path == "s3://bucket/x"


class _Handed(Exception):
    """Raised by the stand-in Tuner builders once they have what was handed to Ray."""


@pytest.fixture
def handed(monkeypatch):
    """What start, resume and extend hand to Ray's Tuner, with Ray and MLflow stubbed out."""
    seen: dict = {}

    def new_tuner(wrapped, spec, exp_name, storage_path, **search):
        seen.update(kind="new", storage_path=storage_path, run_config=runner._run_config(spec, exp_name, storage_path))
        raise _Handed

    def restored_tuner(path, wrapped, retry_failed):
        seen.update(kind="restore", path=path, retry_failed=retry_failed)
        raise _Handed

    monkeypatch.setattr(runner, "_new_tuner", new_tuner)
    monkeypatch.setattr(runner, "_restored_tuner", restored_tuner)
    monkeypatch.setattr(runner, "_check_saved_state", lambda *a: seen.setdefault("checked", a[1]))
    monkeypatch.setattr(runner, "connect", lambda address: False)
    monkeypatch.setattr(runner, "_build_trainable", lambda *a: None)
    def callback(tracking, spec, sid, storage, address, plan=None):
        seen.setdefault("tag", storage)
        return types.SimpleNamespace(number_of=lambda trial_id: None, checkpoint_stored=lambda trial_id: True)

    monkeypatch.setattr(lifecycle, "_callback", callback)
    monkeypatch.setattr(lifecycle, "ensure_new_study", lambda spec, tracking, **kw: None)
    monkeypatch.setattr(lifecycle, "study_lock", lambda tracking, name: contextlib.nullcontext())
    monkeypatch.setattr(lifecycle, "create_study_run", lambda tracking, spec, study_id, tags: seen.setdefault("parent_tags", tags))
    monkeypatch.setattr(lifecycle, "refuse_orphan_ray_state", lambda name, storage: None)
    monkeypatch.setattr(lifecycle, "_log_baselines", lambda tracking, spec, run_id: None)
    monkeypatch.setattr(lifecycle, "experiment_names", lambda storage: seen.setdefault("listed", storage) and ["st", "st-ext1"])
    import tfcli.tracking

    monkeypatch.setattr(tfcli.tracking, "ensure_experiment", lambda tracking, name: None, raising=False)
    monkeypatch.setattr(lifecycle, "trial_records", lambda tracking, name, history=False: [])
    monkeypatch.setattr(lifecycle, "confirmation_records", lambda tracking, name: [])
    record = types.SimpleNamespace(run_id="parent", status="RUNNING")
    stored = lifecycle.StoredStudy(spec=make_spec(name="st"), study_id="abc", storage="s3://bucket/x/", record=record, tags={})
    monkeypatch.setattr(lifecycle, "load_stored_study", lambda tracking, name: stored)
    return seen


def test_start_hands_a_storage_uri_to_ray_untouched(handed):
    with pytest.raises(_Handed):
        lifecycle.start_study(make_spec(name="st"), types.SimpleNamespace(), storage="s3://bucket/x")
    assert handed["kind"] == "new" and handed["storage_path"] == "s3://bucket/x"
    assert handed["run_config"].storage_path == "s3://bucket/x"
    assert handed["checked"] == "s3://bucket/x/st" and handed["tag"] == "s3://bucket/x"
    assert handed["parent_tags"]["tfcli.ray_storage"] == "s3://bucket/x"


def test_resume_hands_the_stored_storage_uri_to_ray_untouched(handed):
    with pytest.raises(_Handed):
        lifecycle.resume_study("st", types.SimpleNamespace(), retry_failed=True)
    assert handed["kind"] == "restore" and handed["path"] == "s3://bucket/x/st-ext1"
    assert handed["retry_failed"] is True
    assert handed["listed"] == "s3://bucket/x" and handed["tag"] == "s3://bucket/x"


def test_extend_hands_the_storage_uri_to_ray_untouched(handed):
    with pytest.raises(_Handed):
        tracking = types.SimpleNamespace(client=lambda: types.SimpleNamespace(set_tag=lambda *a: None))
        lifecycle.extend_study("st", tracking, num_samples=2, storage="s3://bucket/y")
    assert handed["kind"] == "new" and handed["storage_path"] == "s3://bucket/y"
    assert handed["run_config"].storage_path == "s3://bucket/y" and handed["run_config"].name == "st-ext2"
    assert handed["checked"] == "s3://bucket/y/st-ext2" and handed["tag"] == "s3://bucket/y"
