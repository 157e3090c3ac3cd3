"""Issue 25, acceptance 2: a local store whose first open was interrupted never locks every
command out.

MLflow's migrations of a new SQLite store are not transactional; a driver killed in them
leaves alembic's ``_alembic_tmp_<table>`` behind and, before this fix, every later command
failed with ``table _alembic_tmp_... already exists``. A store that holds no runs is moved
aside and created anew; one that holds runs is refused in one line with the repair.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.integration.conftest import study_text
from tests.integration.test_crash_windows import assert_complete, tfcli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_driver_killed_in_the_first_migration_leaves_a_store_that_opens(tmp_path):
    (tmp_path / "first.yaml").write_text(study_text("first", samples=1, steps=10, scheduler="{type: fifo}"))
    crashed = tfcli(tmp_path, "study", "start", "first.yaml", crash_at="during_store_migration")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    db = tmp_path / "mlruns" / "mlflow.db"
    assert any(t.startswith("_alembic_tmp_") for t in tables(db)), "the kill must land inside a migration"

    listed = tfcli(tmp_path, "study", "list", "--format", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "interrupted first open" in listed.stderr and len(listed.stderr.strip().splitlines()) == 1, listed.stderr
    aside = list((tmp_path / "mlruns").glob("mlflow.db.interrupted-*"))
    assert len(aside) == 1, "the half-made store is kept, never deleted"

    started = tfcli(tmp_path, "study", "start", "first.yaml")
    assert started.returncode == 0, started.stdout + started.stderr
    assert_complete(tmp_path, "first")


def half_migrated_store(tmp_path: Path, empty_store_db: Path) -> Path:
    """A store in the state a driver killed 2.5 s into its first open left (seen here with a
    timed SIGKILL): one revision into MLflow's migrations, alembic's copy of a table beside it."""
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(empty_store_db, db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'a8c4a736bde6'")
        connection.execute("CREATE TABLE _alembic_tmp_latest_metrics AS SELECT * FROM latest_metrics")
    return db


def test_a_store_left_with_a_temporary_migration_table_and_no_runs_is_recovered(tmp_path, empty_store_db):
    db = half_migrated_store(tmp_path, empty_store_db)
    (tmp_path / "x.yaml").write_text(study_text("x", samples=1, steps=10))
    dry = tfcli(tmp_path, "study", "start", "x.yaml", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    listed = tfcli(tmp_path, "study", "list", "--format", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "_alembic_tmp_latest_metrics" not in tables(db)
    assert list(db.parent.glob("mlflow.db.interrupted-*"))


def test_a_half_migrated_store_with_runs_is_refused_with_its_repair(tmp_path, empty_store_db):
    db = half_migrated_store(tmp_path, empty_store_db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'dc11669786a5'")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    client.log_param(client.create_run(client.create_experiment("kept")).info.run_id, "lr", "0.1")
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'a8c4a736bde6'")
    before = db.read_bytes()

    (tmp_path / "x.yaml").write_text(study_text("x", samples=1, steps=10))
    for command in (("study", "list"), ("study", "start", "x.yaml"), ("study", "resume", "x")):
        refused = tfcli(tmp_path, *command)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        line = refused.stderr.strip()
        assert len(line.splitlines()) == 1 and "holds 1 runs" in line, line
        assert f"sqlite3 {db} 'DROP TABLE _alembic_tmp_latest_metrics'" in line, line
        assert f"mlflow db upgrade sqlite:///{db}" in line, line
    assert db.read_bytes() == before, "a store with runs is not touched"
