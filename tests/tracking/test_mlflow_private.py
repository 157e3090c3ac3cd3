"""The MLflow internals in tfcli.tracking.mlflow_private still mean what tfcli assumes.

Each test names the internal it checks; one failing after an MLflow upgrade means that
internal moved: find MLflow's new way (a public API, ideally), change mlflow_private.py, and
update the MLflow version its docstring names.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path


import tfcli
from tfcli.tracking import mlflow_private

CHECKED_AGAINST = "3.17"  # the MLflow minor series mlflow_private.py was checked against


def test_the_docstring_names_the_installed_mlflow_series():
    from importlib import metadata

    installed = metadata.version("mlflow")
    assert installed.startswith(CHECKED_AGAINST + "."), (
        f"MLflow {installed} is installed, but tfcli/tracking/mlflow_private.py was checked against "
        f"{CHECKED_AGAINST}: run this file, fix what fails, and update both version names"
    )
    assert f"MLflow {CHECKED_AGAINST}." in (mlflow_private.__doc__ or "")


_FLUENT_CHECK = """
import mlflow
from tfcli.tracking import mlflow_private as mp
tracking, registry = "sqlite:///{tmp}/t.db", "sqlite:///{tmp}/r.db"
assert mp.fluent_uris() == (None, None), mp.fluent_uris()
mlflow.set_tracking_uri(tracking)
assert mp.fluent_uris() == (tracking, None), mp.fluent_uris()
mlflow.set_registry_uri(registry)
assert mp.fluent_uris() == (tracking, registry), mp.fluent_uris()
mp.restore_fluent_uris(None, None)
assert mp.fluent_uris() == (None, None), mp.fluent_uris()
"""


def test_fluent_uris_are_what_the_public_setters_set_and_none_when_unset(tmp_path):
    """Internal: ``mlflow.tracking._tracking_service.utils._tracking_uri`` and
    ``mlflow.tracking._model_registry.utils._registry_uri``. In a fresh process: MLflow's
    fluent state is process-wide, and setting it here would leak into later tests."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    done = subprocess.run([sys.executable, "-c", _FLUENT_CHECK.format(tmp=tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_forget_artifact_repo_drops_the_cached_repository_of_a_run(tmp_path):
    """Internal: ``mlflow.tracking._tracking_service.utils._artifact_repos_cache`` and an
    artifact repository's ``thread_pool``."""
    from mlflow import MlflowClient
    from mlflow.tracking._tracking_service import utils as tracking_utils

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    run_id = client.create_run(client.create_experiment("e", artifact_location=str(tmp_path / "a"))).info.run_id
    (tmp_path / "f.txt").write_text("x")
    client.log_artifact(run_id, str(tmp_path / "f.txt"))
    repo = tracking_utils._artifact_repos_cache[run_id]
    assert repo.thread_pool is not None
    mlflow_private.forget_artifact_repo(run_id)
    assert run_id not in tracking_utils._artifact_repos_cache
    mlflow_private.forget_artifact_repo(run_id)  # a run with no cached repository: nothing to do
    client.log_artifact(run_id, str(tmp_path / "f.txt"), "again")
    assert {a.path for a in client.list_artifacts(run_id)} == {"f.txt", "again"}


def test_the_noisy_loggers_name_modules_that_exist():
    """Internal: the module names ``mlflow.store.db.utils`` and ``alembic.runtime.migration``."""
    for name in mlflow_private.NOISY_LOGGERS:
        assert importlib.util.find_spec(name) is not None, f"{name} is gone: find the logger that now prints"


_PRIVATE = re.compile(
    r"\bmlflow(\.\w+)*\._\w+|_tracking_client|\b(from|import) mlflow\.(store|utils|tracking\._)|\bmlflow\.\w+\._"
)


def test_no_other_module_reaches_into_mlflow_internals():
    package = Path(tfcli.__file__).parent
    found = [
        f"{path.relative_to(package.parent)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "mlflow_private.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _PRIVATE.search(line)
    ]
    assert not found, "MLflow internals outside tfcli/tracking/mlflow_private.py:\n" + "\n".join(found)
