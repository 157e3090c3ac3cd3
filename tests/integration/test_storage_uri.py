"""A ``--storage`` URI reaches Ray untouched on start, extend and resume (issue 15)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import study_runs, study_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def test_a_file_uri_storage_holds_the_study_through_extend_and_resume(project, ray_session, cli):
    ray_root = project / "elsewhere" / "ray"
    uri = ray_root.as_uri()  # file:///.../elsewhere/ray
    (project / "s.yaml").write_text(study_text("uri", samples=2, scheduler="{type: fifo}"))
    result = cli("study", "start", "s.yaml", "--storage", uri)
    assert result.exit_code == 0, result.output + result.stderr
    parents, _ = study_runs(project, "uri")
    assert parents[0].data.tags["tfcli.ray_storage"] == uri

    # extend and resume read the storage from the stored tag
    result = cli("study", "extend", "uri", "--num-samples", "1")
    assert result.exit_code == 0, result.output + result.stderr
    result = cli("study", "resume", "uri")
    assert result.exit_code == 0, result.output + result.stderr

    assert (ray_root / "uri").is_dir() and (ray_root / "uri-ext1").is_dir()
    assert not (ray_root / "uri-ext2").exists()  # resume continued ext1, made no new experiment
    assert list((ray_root / "uri").glob("experiment_state*.json"))
    assert list((ray_root / "uri-ext1").glob("experiment_state*.json"))
    assert not (project / "file:").exists() and not (project / "mlruns" / "ray").exists()
    parents, children = study_runs(project, "uri")
    assert len(parents) == 1 and parents[0].data.tags["tfcli.ray_storage"] == uri
    assert len(children) == 3

    # the same URI given again on the command line is also taken as it is
    result = cli("study", "resume", "uri", "--storage", uri)
    assert result.exit_code == 0, result.output + result.stderr
    assert study_runs(project, "uri")[0][0].data.tags["tfcli.ray_storage"] == uri
