"""Reading a local SQLite store with the standard library, for the read-only commands.

``tfcli report`` on a study of 1,000 trials spent half of its time importing MLflow and
opening its store (SQLAlchemy engine, schema check) before reading a single row. A local
store is a SQLite file plus artifact folders, so the reports read it directly: the same
tables MLflow's ``search_runs`` and ``get_metric_history`` read (``experiments``, ``runs``,
``tags``, ``params``, ``latest_metrics``, ``metrics``), over a read-only connection, and
artifacts as plain files.

It is a fast path, never the only path: :func:`open_store` returns None for anything it does
not know to read exactly as MLflow does (a server, a database file that does not exist yet,
a schema revision it was not checked against, MLflow workspaces in use), and the caller then
goes through MLflow, which also gives MLflow's own error for a store it refuses (an
out-of-date schema, say). A test checks that both paths give the same studies, trials,
histories and artifacts.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional
from urllib.parse import urlparse
from urllib.request import url2pathname

from tfcli.errors import StudyError
from tfcli.tracking.tags import TAG_RUN_NAME

if TYPE_CHECKING:  # pragma: no cover
    from tfcli.tracking.store import Tracking

#: The columns read, per table; a store without any of them is left to MLflow.
_COLUMNS = {
    "experiments": {"experiment_id", "name", "lifecycle_stage"},
    "runs": {"run_uuid", "name", "experiment_id", "status", "start_time", "end_time", "lifecycle_stage", "artifact_uri"},
    "tags": {"key", "value", "run_uuid"},
    "params": {"key", "value", "run_uuid"},
    "latest_metrics": {"key", "value", "is_nan", "run_uuid"},
    "metrics": {"key", "value", "timestamp", "step", "is_nan", "run_uuid"},
}
#: Alembic revisions of MLflow's schema this reader was checked against, by
#: tests/report/test_sqlite_reader.py on the MLflow it installs. The head revision of each
#: MLflow release, read from its ``mlflow/store/db_migrations/versions/``:
#:
#: * 3.16.1: b7e2c1a4d9f3 (not verified)
#: * 3.17.0, 3.17.1, 3.17.2: dc11669786a5 (verified on 3.17.2; the three ship the same migrations)
#: * 3.18.0: f4a9b2c7d1e6 (not verified)
#:
#: pyproject.toml therefore pins ``mlflow>=3.17,<3.18``. A store at another revision is read
#: through MLflow; a test fails when the installed MLflow writes a revision not listed here, so
#: that this file's comparisons are run on it and the revision added (and the pin widened).
VERIFIED_SCHEMAS = frozenset({"dc11669786a5"})
_RUN_COLUMNS = "run_uuid, name, experiment_id, status, start_time, end_time, lifecycle_stage, artifact_uri"
_DEFAULT_WORKSPACE = "default"
_BUSY_TIMEOUT_S = 30.0


def open_store(tracking: "Tracking") -> Optional["SqliteStore"]:
    """A reader of ``tracking``'s SQLite file, or None where MLflow must do the reading."""
    db = tracking.sqlite_path
    try:
        if db is None or not db.is_file() or _workspaces_enabled():
            return None
    except OSError:  # unreadable folder, name too long: MLflow's checks say so in one line
        return None
    try:
        connection = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT_S)
    except sqlite3.Error:
        return None
    try:
        workspaced = _readable_as_mlflow_reads_it(connection)
    except sqlite3.Error:
        workspaced = None
    if workspaced is None:
        connection.close()
        return None
    return SqliteStore(connection, path=db, workspaced=workspaced)


def _readable_as_mlflow_reads_it(connection: sqlite3.Connection) -> Optional[bool]:
    """None when MLflow must read this store; else whether its experiments have workspaces."""
    revision = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    if len(revision) != 1 or revision[0][0] not in VERIFIED_SCHEMAS:
        return None
    columns = {table: {row[1] for row in connection.execute(f"PRAGMA table_info({table})")} for table in _COLUMNS}
    if any(not wanted <= columns[table] for table, wanted in _COLUMNS.items()):
        return None
    workspaced = "workspace" in columns["experiments"]
    if workspaced and connection.execute(
        "SELECT 1 FROM experiments WHERE workspace <> ? LIMIT 1", (_DEFAULT_WORKSPACE,)
    ).fetchall():
        return None  # MLflow without workspaces refuses such a store; let it say why
    return workspaced


class SqliteStore:
    """Read-only queries over one MLflow SQLite store; rows come back as run views.

    Only active experiments and runs are seen, as ``search_experiments`` and ``search_runs``
    see them by default. Metric values are MLflow's: NaN where ``is_nan`` is set, and an
    infinity as the largest float MLflow stored in its place.
    """

    def __init__(self, connection: sqlite3.Connection, *, path: Path, workspaced: bool):
        self._db = connection
        self._path = path
        self._workspace = " AND workspace = ?" if workspaced else ""
        self._workspace_args: tuple = (_DEFAULT_WORKSPACE,) if workspaced else ()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "SqliteStore":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def _rows(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise StudyError(
                f"the tracking database must be readable, but reading {self._path} failed ({err}); "
                "if a study is writing to it, try again in a moment"
            ) from None

    def experiment_id(self, name: str) -> Optional[str]:
        """The id of the active experiment ``name``, or None."""
        rows = self._rows(
            f"SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'{self._workspace}",
            (name, *self._workspace_args),
        )
        return str(rows[0][0]) if rows else None

    def experiment_ids(self) -> list[str]:
        """The ids of every active experiment."""
        rows = self._rows(
            f"SELECT experiment_id FROM experiments WHERE lifecycle_stage = 'active'{self._workspace}",
            self._workspace_args,
        )
        return [str(row[0]) for row in rows]

    def artifact_locations(self) -> list[tuple[str, str]]:
        """(name, artifact location) of every active experiment."""
        rows = self._rows(
            f"SELECT name, artifact_location FROM experiments WHERE lifecycle_stage = 'active'{self._workspace}",
            self._workspace_args,
        )
        return [(str(name), str(location or "")) for name, location in rows]

    def runs_tagged(self, experiment_ids: list[str], tags: dict[str, str], *, newest_first: bool = False) -> list:
        """Active runs of ``experiment_ids`` carrying every tag in ``tags``, with their tags,
        params and latest metrics; oldest first, or newest first as ``search_runs`` orders."""
        if not experiment_ids:
            return []
        where = ["r.lifecycle_stage = 'active'", f"r.experiment_id IN ({', '.join('?' * len(experiment_ids))})"]
        args: list = [int(e) for e in experiment_ids]
        for key, value in tags.items():
            where.append("r.run_uuid IN (SELECT run_uuid FROM tags WHERE key = ? AND value = ?)")
            args += [key, value]
        selected = f"SELECT r.run_uuid FROM runs r WHERE {' AND '.join(where)}"
        self._rows("BEGIN")  # one snapshot for the four reads, whatever a study writes meanwhile
        try:
            runs = self._rows(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_uuid IN ({selected})", args)
            data = {row[0]: ({}, {}, {}) for row in runs}
            for run_id, key, value in self._rows(
                f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({selected})", args
            ):
                if run_id in data:
                    data[run_id][0][key] = value
            for run_id, key, value in self._rows(
                f"SELECT run_uuid, key, value FROM params WHERE run_uuid IN ({selected})", args
            ):
                if run_id in data:
                    data[run_id][1][key] = value
            for run_id, key, value, is_nan in self._rows(
                f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({selected})", args
            ):
                if run_id in data:
                    data[run_id][2][key] = float("nan") if is_nan else float(value)
        finally:
            self._db.rollback()
        return sorted_oldest_first([run_view(row, *data[row[0]]) for row in runs], newest_first=newest_first)

    def run_tags(self, run_id: str) -> dict[str, str]:
        """The tags of one run (empty for a run the store does not hold)."""
        return dict(self._rows("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float, int]]:
        """``[(step, value, timestamp), ...]`` of one metric of one run by step; ties as MLflow
        orders them (by timestamp, then value)."""
        rows = self._rows(
            "SELECT step, value, timestamp, is_nan FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value",
            (run_id, key),
        )
        return [(int(step), float("nan") if is_nan else float(value), int(timestamp)) for step, value, timestamp, is_nan in rows]


def local_artifact(artifact_uri: Optional[str], path: str) -> Optional[Path]:
    """The local file or folder of the artifact ``path`` under a run's ``artifact_uri``, or
    None when the URI is not a local one (a server's ``mlflow-artifacts:``, S3, ...).

    Decoded as MLflow's local artifact repository decodes it (``url2pathname``, for a plain
    path as for a ``file:`` URI), so the same folder is found; a path that climbs out of the
    run's folder (``..``) is refused, as MLflow refuses it.
    """
    if not artifact_uri:
        return None
    parsed = urlparse(artifact_uri)
    if parsed.scheme not in ("", "file") or parsed.netloc:
        return None
    root = Path(url2pathname(parsed.path if parsed.scheme == "file" else artifact_uri))
    parts = [part for part in path.split("/") if part]
    if not root.is_absolute() or ".." in parts:
        return None
    return root.joinpath(*parts)


@dataclass(frozen=True)
class RunInfoView:
    run_id: str
    run_name: Optional[str]
    experiment_id: str
    status: str
    start_time: Optional[int]
    end_time: Optional[int]
    lifecycle_stage: str
    artifact_uri: Optional[str]


@dataclass(frozen=True)
class RunDataView:
    tags: dict
    params: dict
    metrics: dict


@dataclass(frozen=True)
class RunView:
    """What :mod:`.reading` reads of an MLflow ``Run``: ``info`` and ``data``, same attributes."""

    info: RunInfoView
    data: RunDataView


def run_view(row: tuple, tags: dict, params: dict, metrics: dict) -> RunView:
    """A run view from a ``runs`` row (run_uuid, name, experiment_id, status, start_time,
    end_time, lifecycle_stage, artifact_uri) and the run's tags, params and latest metrics."""
    run_id, name, experiment_id, status, start_time, end_time, lifecycle_stage, artifact_uri = row
    return RunView(
        info=RunInfoView(
            run_id=run_id,
            run_name=name or tags.get(TAG_RUN_NAME),
            experiment_id=str(experiment_id),
            status=status,
            start_time=start_time,
            end_time=end_time,
            lifecycle_stage=lifecycle_stage,
            artifact_uri=artifact_uri,
        ),
        data=RunDataView(tags=tags, params=params, metrics=metrics),
    )


def sorted_oldest_first(views: list, *, newest_first: bool = False) -> list:
    """Runs in ``search_runs``' order by start time (ties by run id), oldest or newest first."""
    sign = -1 if newest_first else 1
    return sorted(views, key=lambda v: (v.info.start_time is None, sign * (v.info.start_time or 0), v.info.run_id))


def _workspaces_enabled() -> bool:
    return os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").strip().lower() in ("1", "true")

