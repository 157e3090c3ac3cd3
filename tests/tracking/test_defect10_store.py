"""Issue 16, item 10: a damaged local database is refused, and a new store opens quietly.

(a) A 0-byte ``mlflow.db`` was taken by SQLite for a new database, and MLflow created fresh
tables in it: the store came back empty without a word. It is refused now, in one line that
says what to do, and left as it is. (b) Opening a new store prints nothing of MLflow's or
Alembic's migration logging on stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tfcli import tracking as tr
from tfcli.errors import StudyError, UserError
from tfcli.tracking import store as store_module
from tests.tracking import test_tracking as base

_empty_store_db = base._empty_store_db  # a fixture: a migrated, empty MLflow database

_OLD = time.time() - 3600  # an mtime well past the grace given to a file being created


def _refusal(db: Path) -> str:
    with pytest.raises(StudyError) as err:
        tr.check_tracking(f"sqlite:///{db}")
    assert isinstance(err.value, UserError)
    return str(err.value)


@pytest.mark.timeout(60)
def test_an_empty_database_file_is_refused_and_left_alone(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    db.touch()
    os.utime(db, (_OLD, _OLD))
    start = time.monotonic()
    message = _refusal(db)
    assert time.monotonic() - start < 3  # an old empty file is not waited for
    assert "\n" not in message
    assert message.startswith(f"the tracking database must be an MLflow store, but {db} is empty (0 bytes")
    assert f"move it away (`mv {db} {db}.damaged`)" in message
    assert db.stat().st_size == 0  # not re-initialised as a new, empty store


@pytest.mark.timeout(60)
def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_text("name,value\nnot,a database\n")
    message = _refusal(db)
    assert "\n" not in message and f"but {db} is not a SQLite database; move it away" in message


@pytest.mark.timeout(60)
def test_a_read_only_command_refuses_an_empty_database_in_one_line(tmp_path):
    """``study list`` reads a local store directly; an empty file still gets the refusal."""
    db = tmp_path / "mlflow.db"
    db.touch()
    os.utime(db, (_OLD, _OLD))
    done = _tfcli("study", "list", "--tracking-uri", f"sqlite:///{db}")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "is empty (0 bytes" in done.stderr
    assert db.stat().st_size == 0


@pytest.mark.timeout(60)
def test_an_empty_file_being_created_by_another_process_is_waited_for(tmp_path, _empty_store_db):
    """SQLite creates a database file empty and writes it with its first table: a store that
    another process is creating this moment must not be refused as damaged."""
    db = tmp_path / "mlflow.db"
    db.touch()

    def fill() -> None:
        time.sleep(0.5)
        shutil.copyfile(_empty_store_db, db)

    filler = threading.Thread(target=fill)
    filler.start()
    try:
        store_module.check_database_file(db)
    finally:
        filler.join()
    assert db.stat().st_size > 0


@pytest.mark.timeout(30)
def test_a_missing_or_valid_database_passes(tmp_path, _empty_store_db):
    store_module.check_database_file(tmp_path / "none.db")
    store_module.check_database_file(_empty_store_db)


def _tfcli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "TFCLI_DEBUG")}
    return subprocess.run(
        [sys.executable, "-m", "tfcli", *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


_NOISE = ("alembic", "Running upgrade", "Context impl", "database tables", "Will assume")


@pytest.mark.timeout(120)
def test_study_list_on_a_new_store_prints_nothing_on_stderr(tmp_path):
    done = _tfcli("study", "list", "--tracking-uri", f"sqlite:///{tmp_path}/new/mlflow.db")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


# A program that logs at INFO (its own basicConfig, as a notebook or a job script has) and
# opens a new store: MLflow's and Alembic's migration lines must not reach its stderr.
_OPEN_NEW_STORE = """
import logging, sys
logging.basicConfig(level=logging.INFO)
from tfcli.tracking import check_tracking
check_tracking(sys.argv[1])
"""


@pytest.mark.timeout(120)
def test_opening_a_new_store_prints_no_migration_logging(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_NEW_STORE, f"sqlite:///{tmp_path}/new/mlflow.db"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "new" / "mlflow.db").stat().st_size > 0  # the store was created
    leaked = [line for line in done.stderr.splitlines() if any(word in line for word in _NOISE)]
    assert not leaked, "\n".join(leaked[:10])
