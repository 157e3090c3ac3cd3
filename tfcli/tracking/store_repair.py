"""A local store whose first open was cut short: set aside when it holds nothing, else refused.

MLflow creates a new SQLite store's tables and then runs its schema migrations, which are not
transactional: a driver killed in those seconds (SIGKILL, an OOM kill, a node lost) leaves a
database at an older revision, often with one of alembic's ``_alembic_tmp_<table>`` tables,
and every later open fails with ``table _alembic_tmp_... already exists`` (mlflow#23634).
Such a store that holds no run and no experiment but MLflow's Default was never used: it is
moved aside (never deleted) so that MLflow creates a fresh one. A store that holds runs is
refused with the exact repair, since only its owner can decide to touch it.

Reads the file with the standard ``sqlite3`` module, before MLflow opens it.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tfcli import crash_points
from tfcli.errors import StudyError
from tfcli.tracking.sqlite_reader import VERIFIED_SCHEMAS

log = logging.getLogger(__name__)

_TMP_PREFIX = "_alembic_tmp_"
#: MLflow's Default experiment, which every new store gets.
_DEFAULT_EXPERIMENT_ID = 0


@dataclass(frozen=True)
class Migration:
    """What a store's file says about its schema: its revision and alembic's leftover tables."""

    revision: Optional[str]
    leftovers: tuple[str, ...]
    tables: frozenset[str]
    runs: int
    experiments: int

    @property
    def interrupted(self) -> bool:
        """Part-way through MLflow's migrations: below the head revision with one of alembic's
        leftover tables, or tables without a revision. (A store at an older revision and no
        leftover is an old store: MLflow's own upgrade path takes it; a leftover at the head
        revision is harmless.)"""
        if not self.tables or self.revision in VERIFIED_SCHEMAS:
            return False
        return bool(self.leftovers) or self.revision is None

    @property
    def unused(self) -> bool:
        """No run and no experiment but MLflow's Default: nothing would be lost."""
        return self.runs == 0 and self.experiments == 0


def inspect_migration(db: Path) -> Optional[Migration]:
    """The migration state of the SQLite file ``db``; None when it cannot be read as one."""
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        tables = frozenset(r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'"))
        revision = None
        if "alembic_version" in tables:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        runs = connection.execute("SELECT count(*) FROM runs").fetchone()[0] if "runs" in tables else 0
        experiments = 0
        if "experiments" in tables:
            experiments = connection.execute(
                "SELECT count(*) FROM experiments WHERE experiment_id != ?", (_DEFAULT_EXPERIMENT_ID,)
            ).fetchone()[0]
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    leftovers = tuple(sorted(t for t in tables if t.startswith(_TMP_PREFIX)))
    return Migration(revision, leftovers, tables, runs, experiments)


def recover_interrupted_store(db: Path) -> None:
    """Set aside a store whose first open was interrupted, or refuse one that holds runs.

    Call it under the store's lock (:func:`tfcli.tracking.locks.store_lock`), before MLflow
    opens ``db``. A healthy or missing store is left alone.
    """
    state = inspect_migration(db) if db.exists() else None
    if state is None or not state.interrupted:
        return
    if state.unused:
        aside = db.with_name(f"{db.name}.interrupted-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(db, aside)
        log.warning(
            "the tracking store %s was left half-created by an interrupted first open and held no runs; "
            "it was moved to %s and a new store is created", db, aside.name,
        )
        return
    raise StudyError(_refusal(db, state))


def _refusal(db: Path, state: Migration) -> str:
    found = f"revision {state.revision}" if state.revision else "no schema revision"
    head = "/".join(sorted(VERIFIED_SCHEMAS))
    leftover = f", leftover table {', '.join(state.leftovers)}" if state.leftovers else ""
    repair = [f"cp {db} {db}.bak"]
    for table in state.leftovers:
        original = table[len(_TMP_PREFIX):]
        if original in state.tables:  # alembic died before dropping the original: the copy is spare
            repair.append(f"sqlite3 {db} 'DROP TABLE {table}'")
        else:  # it died between dropping the original and renaming the copy: the copy is the data
            repair.append(f"sqlite3 {db} 'ALTER TABLE {table} RENAME TO {original}'")
    repair.append(f"mlflow db upgrade sqlite:///{db}")
    return (
        f"the tracking database {db} was left part-way through an MLflow schema migration ({found}, "
        f"expected {head}{leftover}) and holds {state.runs} runs, so tfcli will not open it; "
        f"repair it with `{' && '.join(repair)}`, or restore it from a backup"
    )


def arm_migration_crash() -> None:
    """For the crash-window tests: SIGKILL this process right after MLflow's migrations
    create their first ``_alembic_tmp_`` table, when ``$TFCLI_CRASH_AT`` names
    :data:`tfcli.crash_points.DURING_STORE_MIGRATION` (a timed kill cannot hit that window
    reliably). Uses SQLAlchemy's public event API; does nothing otherwise."""
    if not crash_points.armed(crash_points.DURING_STORE_MIGRATION):
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def after_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if _TMP_PREFIX in statement and statement.lstrip().upper().startswith("CREATE TABLE"):
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Engine, "after_cursor_execute", after_execute)
