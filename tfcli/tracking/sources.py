"""Where :mod:`.reading` reads runs from: a local SQLite store directly, or MLflow's client.

Each source answers the same few questions (a study's parent run, its trial runs, the study
parents of the store, a metric's history, a run's tags and text artifacts) with run views of
the same shape, so the records built from them do not depend on the source. :func:`source`
picks the direct reader where :func:`.sqlite_reader.open_store` allows it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from tfcli.tracking import sqlite_reader
from tfcli.tracking.artifacts import read_text_artifact
from tfcli.tracking.search import all_experiments, find_study, search_all, study_runs, tag_field
from tfcli.tracking.store import Tracking
from tfcli.tracking.tags import ROLE_STUDY, ROLE_TRIAL, TAG_ROLE, TAG_STUDY_ID

if TYPE_CHECKING:  # pragma: no cover
    from mlflow.entities import Run

History = Callable[[str, str], list]  # (run_id, key) -> [(step, value), ...] by step


class _MlflowSource:
    """Runs read through MLflow's public client: any store, local or a server, and a local
    SQLite store that :func:`.sqlite_reader.open_store` declines."""

    def __init__(self, tracking: Tracking):
        self.tracking = tracking
        self.client = tracking.client()

    def close(self) -> None:
        pass

    def parent(self, name: str) -> Optional["Run"]:
        return find_study(self.tracking, name)

    def parents(self) -> list:
        experiment_ids = [e.experiment_id for e in all_experiments(self.client)]
        return search_all(self.client, experiment_ids, f"{tag_field(TAG_ROLE)} = '{ROLE_STUDY}'", order_by=["attributes.start_time DESC"])

    def trials(self, parent: "Run", role: str = ROLE_TRIAL) -> list:
        study_id = parent.data.tags.get(TAG_STUDY_ID, "")
        return study_runs(self.tracking, study_id, experiment_id=parent.info.experiment_id, role=role)

    def trials_of_experiments(self, experiment_ids: list[str]) -> list:
        return search_all(self.client, experiment_ids, f"{tag_field(TAG_ROLE)} = '{ROLE_TRIAL}'", order_by=["attributes.start_time ASC"])

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        points = sorted(self.client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
        return [(int(m.step), float(m.value)) for m in points]

    def text(self, run: Any, path: str) -> Optional[str]:
        return read_text_artifact(self.client, run.info.run_id, path)

    def tags(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.tags)


class _LocalSource:
    """Runs read from a local SQLite store with the standard library (:mod:`.sqlite_reader`)."""

    def __init__(self, store: "sqlite_reader.SqliteStore", tracking: Tracking):
        self.store = store
        self.tracking = tracking

    def close(self) -> None:
        self.store.close()

    def parent(self, name: str) -> Optional[Any]:
        experiment_id = self.store.experiment_id(name)
        if experiment_id is None:
            return None
        parents = self.store.runs_tagged([experiment_id], {TAG_ROLE: ROLE_STUDY}, newest_first=True)
        return parents[0] if parents else None

    def parents(self) -> list:
        return self.store.runs_tagged(self.store.experiment_ids(), {TAG_ROLE: ROLE_STUDY}, newest_first=True)

    def trials(self, parent: Any, role: str = ROLE_TRIAL) -> list:
        tags = {TAG_ROLE: role, TAG_STUDY_ID: parent.data.tags.get(TAG_STUDY_ID, "")}
        return self.store.runs_tagged([parent.info.experiment_id], tags)

    def trials_of_experiments(self, experiment_ids: list[str]) -> list:
        return self.store.runs_tagged(experiment_ids, {TAG_ROLE: ROLE_TRIAL})

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(step, value) for step, value, _ in self.store.metric_history(run_id, key)]

    def text(self, run: Any, path: str) -> Optional[str]:
        local = sqlite_reader.local_artifact(run.info.artifact_uri, path)
        if local is None:  # artifacts kept elsewhere (S3, a server): MLflow fetches them
            return read_text_artifact(self.tracking.client(), run.info.run_id, path)
        try:
            return local.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def tags(self, run_id: str) -> dict[str, str]:
        return self.store.run_tags(run_id)


class _EmptySource:
    """A local store whose database does not exist yet: no studies, and nothing is created."""

    def close(self) -> None:
        pass

    def parent(self, name: str) -> None:
        return None

    def parents(self) -> list:
        return []

    def trials(self, parent: Any, role: str = ROLE_TRIAL) -> list:
        return []

    def trials_of_experiments(self, experiment_ids: list[str]) -> list:
        return []

    def history(self, run_id: str, key: str) -> list:
        return []

    def text(self, run: Any, path: str) -> None:
        return None

    def tags(self, run_id: str) -> dict[str, str]:
        return {}


def not_created(tracking: Tracking) -> bool:
    """Whether ``tracking`` is a local store whose database file does not exist (yet)."""
    db = tracking.sqlite_path
    try:
        return db is not None and not db.exists()
    except OSError:  # unreadable folder, name too long: check_tracking says so in one line
        return False


@contextmanager
def source(tracking: Tracking) -> Iterator[Any]:
    """The local store's direct reader where :func:`.sqlite_reader.open_store` allows it, else MLflow."""
    store = sqlite_reader.open_store(tracking)
    if store is not None:
        source = _LocalSource(store, tracking)
    elif not_created(tracking):
        source = _EmptySource()
    else:
        source = _MlflowSource(tracking)
    try:
        yield source
    finally:
        source.close()
