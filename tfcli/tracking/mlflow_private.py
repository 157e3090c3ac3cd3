"""The MLflow internals tfcli relies on where MLflow has no public API, all in one place.

Checked against MLflow 3.17.2 (the range pyproject.toml allows, ``>=3.17,<3.18``);
tests/tracking/test_mlflow_private.py fails when any of them moves or changes meaning, so an
MLflow upgrade shows here first. Nothing else under :mod:`tfcli.tracking` may reach into
MLflow's private modules or attributes: add such a use here, with a test.
"""

from __future__ import annotations

from typing import Optional

#: Loggers of MLflow's internal modules (and Alembic's) that print a line per store opened,
#: by module name: ``mlflow.store.db.utils`` logs "Creating initial MLflow database tables..."
#: (and a multi-line warning per retried connection) and Alembic its migrations; tfcli sets
#: them to ERROR (``tracking.store.quiet_mlflow_logs``). Names only: nothing is imported
#: through them.
NOISY_LOGGERS = ("mlflow.store.db.utils", "alembic.runtime.migration", "alembic")


def fluent_uris() -> tuple[Optional[str], Optional[str]]:
    """The tracking and registry URIs set by ``mlflow.set_tracking_uri`` and
    ``mlflow.set_registry_uri`` in this process, None where unset.

    ``mlflow.get_tracking_uri()`` and ``mlflow.get_registry_uri()`` answer with a resolved URI
    (the environment, else MLflow's default) and cannot tell "unset" from "set"; what was set
    lives only in the module globals ``_tracking_uri`` and ``_registry_uri``. Put them back with
    the public setters (``set_tracking_uri(None)`` and ``set_registry_uri(None)`` unset them).
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    return tracking_utils._tracking_uri, registry_utils._registry_uri


def restore_fluent_uris(tracking_uri: Optional[str], registry_uri: Optional[str]) -> None:
    """Put back what :func:`fluent_uris` returned, exactly (None stays unset).

    ``mlflow.set_registry_uri(None)`` does not restore an unset registry URI in MLflow 3.17
    (a registry test run after it finds no registered model), so the globals are written back.
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._tracking_uri = tracking_uri
    registry_utils._registry_uri = registry_uri


def forget_artifact_repo(run_id: str) -> None:
    """Drop MLflow's cached artifact repository of the run ``run_id`` and stop its threads.

    ``MlflowClient.log_artifact(s)`` keeps one repository per run in a process-wide cache of
    1,024 (``mlflow.tracking._tracking_service.utils._artifact_repos_cache``), each with its own
    thread pool and async-logging queue: a study's driver, which logs every trial's checkpoint,
    grew by about 185 KiB per trial until the cache was full (``benchmarks/team_scale.py``).
    The study callback calls this once a trial's run has ended; a later write to that run
    builds a new repository.
    """
    from mlflow.tracking._tracking_service import utils as tracking_utils

    repo = tracking_utils._artifact_repos_cache.pop(run_id, None)
    pool = getattr(repo, "thread_pool", None)
    if pool is not None:
        pool.shutdown(wait=False)
