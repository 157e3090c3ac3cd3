"""A study store written by the old tfcli (commit 62916b1, before modules moved between
packages) is still usable by the code of this checkout, through the CLI as a user runs it.

``legacy_store/`` (see its README.md; rebuilt by ``make_legacy_store.sh``) holds a SQLite
MLflow store, its artifacts and Ray's state under ``mlruns/ray`` with two studies:
``legacy-done`` (3 finished trials) and ``legacy-interrupted`` (Ctrl-C: 1 finished trial,
1 KILLED, 1 never started). Each test copies it into ``tmp_path``, rewrites the absolute
paths the old code recorded (:func:`relocate_store`) and runs ``python -m tfcli ...`` with
the copy as working directory, so the default store ``./mlruns`` is the one used. What the
store holds is read independently, with :mod:`sqlite3`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import types
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "legacy_store"
ORIGIN = json.loads((FIXTURE / "ORIGIN.json").read_text())
OLD_ROOT: str = ORIGIN["root"]  # where make_legacy_store.sh wrote the store
DONE, INTERRUPTED = "legacy-done", "legacy-interrupted"
OBJECTIVE = "chrf"  # both studies: objective {metric: chrf, mode: max}

# --------------------------------------------------------------------------------------------
# Relocation: the absolute paths the old code recorded, pointed at the copy
# --------------------------------------------------------------------------------------------

#: MLflow records artifact locations as absolute paths (no file:// for a local sqlite store).
RELOCATED_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"))
#: tfcli's parent-run tags with absolute paths (tfcli/study/lifecycle.py): Ray's storage folder,
#: which resume and extend use, and the folder of the study file (relative data paths).
RELOCATED_TAGS = ("tfcli.ray_storage", "tfcli.base_dir")


def _moved_sql(column: str) -> tuple[str, str]:
    """SET and WHERE clauses moving ``column`` from :old to :new, when it is :old or under it
    (substr rather than LIKE: ``_`` and ``%`` in paths are no wildcards here)."""
    return (
        f"{column} = :new || substr({column}, length(:old) + 1)",
        f"({column} = :old OR substr({column}, 1, length(:old) + 1) = :old || '/')",
    )


def _rewritten(value, old: str, new: str, seen: set[int]):
    """``value`` with every string path under ``old`` moved under ``new``; containers and
    plain objects are changed in place (Ray's StorageContext, dicts, lists), tuples rebuilt."""
    if isinstance(value, str):
        return new + value[len(old):] if value == old or value.startswith(old + "/") else value
    if isinstance(value, (bytes, int, float, bool, type(None), type, types.ModuleType, types.FunctionType)) or id(value) in seen:
        return value
    seen.add(id(value))
    if isinstance(value, dict):
        for key, item in list(value.items()):
            value[key] = _rewritten(item, old, new, seen)
    elif isinstance(value, list):
        value[:] = [_rewritten(item, old, new, seen) for item in value]
    elif type(value) is tuple:
        return tuple(_rewritten(item, old, new, seen) for item in value)
    elif isinstance(getattr(value, "__dict__", None), dict):
        attributes = vars(value)
        for key, item in list(attributes.items()):
            attributes[key] = _rewritten(item, old, new, seen)
    return value


def relocate_store(project: Path, old_root: str = OLD_ROOT) -> None:
    """Rewrite what the store recorded under ``old_root`` to ``project`` (the copy's root).

    * MLflow: experiments.artifact_location, runs.artifact_uri; tfcli's parent-run tags
      tfcli.ray_storage and tfcli.base_dir.
    * Ray (2.x) restores the trials of ``experiment_state-*.json`` and the ``tuner.pkl``
      settings from the folder given to ``Tuner.restore``, so those keep their old paths.
      But the state of the BasicVariantGenerator (``basic-variant-state-*.json``, a
      cloudpickle despite the name) holds the experiment's StorageContext with the absolute
      storage path, and the trials it has not started yet (here the third of
      legacy-interrupted) would be created there: that one is rewritten.
    """
    import ray.cloudpickle as cloudpickle

    new_root = str(project)
    with sqlite3.connect(project / "mlruns" / "mlflow.db") as db:
        names = {"old": old_root, "new": new_root}
        for table, column in RELOCATED_COLUMNS:
            moved, under = _moved_sql(column)
            db.execute(f"UPDATE {table} SET {moved} WHERE {under}", names)
        moved, under = _moved_sql("value")
        for key in RELOCATED_TAGS:
            db.execute(f"UPDATE tags SET {moved} WHERE key = :key AND {under}", {**names, "key": key})
    db.close()
    for state_file in (project / "mlruns" / "ray").glob("*/basic-variant-state-*.json"):
        state = cloudpickle.loads(state_file.read_bytes())
        state_file.write_bytes(cloudpickle.dumps(_rewritten(state, old_root, new_root, set())))
        assert old_root.encode() not in state_file.read_bytes(), f"a path under {old_root} is left in {state_file}"


def copy_store(tmp_path: Path, *, relocate: bool = True) -> Path:
    """A private, relocated copy of the fixture: the project folder commands run from."""
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("README.md"))
    if relocate:
        relocate_store(project)
    return project


# --------------------------------------------------------------------------------------------
# Reading the store without tfcli, and running the CLI
# --------------------------------------------------------------------------------------------


def db_rows(project: Path, sql: str, *args) -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{project / 'mlruns' / 'mlflow.db'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(sql, args).fetchall()
    db.close()
    return rows


def runs_of(project: Path, study: str, role: str) -> list[dict]:
    """The study's runs with tag tfcli.role = ``role`` (study | trial), straight from SQLite."""
    rows = db_rows(
        project,
        """
        SELECT r.run_uuid, r.status, r.end_time, r.lifecycle_stage,
               (SELECT value FROM tags WHERE run_uuid = r.run_uuid AND key = 'tfcli.trial_id') AS trial_id,
               (SELECT value FROM tags WHERE run_uuid = r.run_uuid AND key = 'mlflow.parentRunId') AS parent,
               (SELECT max(value) FROM metrics WHERE run_uuid = r.run_uuid AND key = ?) AS best
        FROM runs r JOIN experiments e USING (experiment_id)
        JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'tfcli.role'
        WHERE e.name = ? AND t.value = ?
        """,
        OBJECTIVE, study, role,
    )
    return [dict(row) for row in rows]


def old_root_mentions(project: Path) -> list[str]:
    """Every text cell of the SQLite store that still names OLD_ROOT, as table.column."""
    found = []
    with sqlite3.connect(f"file:{project / 'mlruns' / 'mlflow.db'}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for column in [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]:
                hits = db.execute(
                    f'SELECT count(*) FROM "{table}" WHERE instr(CAST("{column}" AS TEXT), ?) > 0', (OLD_ROOT,)
                ).fetchone()[0]
                if hits:
                    found.append(f"{table}.{column}")
    db.close()
    return found


def tfcli(project: Path, *args: str, timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``python -m tfcli ARGS`` from ``project`` (default store ./mlruns, an embedded Ray)."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    for name in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "tfcli", *args], cwd=project, env=env, input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_store(tmp_path)


# --------------------------------------------------------------------------------------------
# The fixture and its relocation
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_the_fixture_is_what_the_tests_expect():
    """The studies as make_legacy_store.sh left them, and the paths that need relocating."""
    done = runs_of(FIXTURE, DONE, "trial")
    assert sorted(r["status"] for r in done) == ["FINISHED"] * 3
    interrupted = runs_of(FIXTURE, INTERRUPTED, "trial")
    assert sorted(r["status"] for r in interrupted) == ["FINISHED", "KILLED"]
    assert [r["status"] for r in runs_of(FIXTURE, INTERRUPTED, "study")] == ["KILLED"]
    assert {"experiments.artifact_location", "runs.artifact_uri", "tags.value"} == set(old_root_mentions(FIXTURE))


@pytest.mark.timeout(60)
def test_relocation_leaves_no_old_path_in_the_store(project):
    assert old_root_mentions(project) == []
    storage = db_rows(project, "SELECT DISTINCT value FROM tags WHERE key = 'tfcli.ray_storage'")
    assert [r["value"] for r in storage] == [str(project / "mlruns" / "ray")]


# --------------------------------------------------------------------------------------------
# Reading commands
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_report_ranks_the_legacy_trials(project):
    report = json.loads(ok(tfcli(project, "report", DONE, "--format", "json")).stdout)
    trials = runs_of(project, DONE, "trial")
    best = max(trials, key=lambda r: r["best"])
    assert report["trials"] == len(trials) == 3
    ranked = report["ranked"]
    assert {r["run_id"] for r in ranked} == {t["run_uuid"] for t in trials}
    assert ranked[0]["run_id"] == best["run_uuid"] and ranked[0]["trial_id"] == best["trial_id"]
    assert ranked[0]["value"] == pytest.approx(best["best"])
    values = [r["value"] for r in ranked]
    assert values == sorted(values, reverse=True)
    assert report["study"]["best_value"] == pytest.approx(best["best"])


@pytest.mark.timeout(120)
def test_status_lists_the_trials_with_their_statuses(project):
    for study, statuses in ((DONE, ["FINISHED"] * 3), (INTERRUPTED, ["FINISHED", "KILLED"])):
        status = json.loads(ok(tfcli(project, "study", "status", study, "--format", "json")).stdout)
        trials = runs_of(project, study, "trial")
        assert status["study"]["name"] == study
        assert sorted(t["status"] for t in status["trials"]) == statuses
        assert {(t["trial_id"], t["run_id"], t["status"]) for t in status["trials"]} == {
            (r["trial_id"], r["run_uuid"], r["status"]) for r in trials
        }


@pytest.mark.timeout(180)
def test_export_the_best_trial_then_predict(project, tmp_path):
    out = tmp_path / "exported"
    exported = json.loads(ok(tfcli(project, "export", DONE, "--out", str(out), "--format", "json")).stdout)
    best = max(runs_of(project, DONE, "trial"), key=lambda r: r["best"])
    assert exported["run_id"] == best["run_uuid"]
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    stored = project / "mlruns" / "artifacts" / DONE / best["run_uuid"] / "artifacts" / "checkpoint"
    assert (out / "model.safetensors").read_bytes() == (stored / "model.safetensors").read_bytes()

    text = "may the sixth two thousand forty-six"
    predicted = ok(tfcli(project, "predict", str(out), "--format", "json", stdin=text + "\n"))
    lines = predicted.stdout.splitlines()
    assert len(lines) == 1, predicted.stdout
    line = json.loads(lines[0])
    assert line["input"] == text and isinstance(line["prediction"], str) and line["prediction"].strip()


# --------------------------------------------------------------------------------------------
# Commands that run trials on Ray
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_resume_finishes_the_killed_trials_without_rerunning_the_finished_one(project):
    old_root_there = Path(OLD_ROOT).exists()
    before = {r["trial_id"]: r for r in runs_of(project, INTERRUPTED, "trial")}
    finished = {t: r for t, r in before.items() if r["status"] == "FINISHED"}
    killed = {t: r for t, r in before.items() if r["status"] == "KILLED"}
    assert len(finished) == 1 and len(killed) == 1

    ok(tfcli(project, "study", "resume", INTERRUPTED, timeout=540))

    after = runs_of(project, INTERRUPTED, "trial")
    by_trial = {r["trial_id"]: r for r in after}
    assert len(by_trial) == len(after) == 3, "one run per trial, none duplicated"
    assert [r["status"] for r in after] == ["FINISHED"] * 3, [(r["trial_id"], r["status"]) for r in after]
    for trial_id, run in finished.items():
        assert by_trial[trial_id]["run_uuid"] == run["run_uuid"]
        assert by_trial[trial_id]["end_time"] == run["end_time"], "a finished trial ran again"
    for trial_id, run in killed.items():
        assert by_trial[trial_id]["run_uuid"] == run["run_uuid"], "the killed trial continues in its own run"
    parents = runs_of(project, INTERRUPTED, "study")
    assert len(parents) == 1 and parents[0]["status"] == "FINISHED"
    assert {r["parent"] for r in after} == {parents[0]["run_uuid"]}
    duplicated = db_rows(
        project,
        "SELECT run_uuid, count(*) - count(DISTINCT step) AS extra FROM metrics WHERE key = ? GROUP BY run_uuid HAVING extra > 0",
        OBJECTIVE,
    )
    assert not [dict(r) for r in duplicated], "a step was logged twice"
    (new_trial,) = set(by_trial) - set(before)
    # The never-started trial ran in the copy's Ray storage, not where the old store was made.
    assert list((project / "mlruns" / "ray" / INTERRUPTED).glob(f"trial_{new_trial}_*/result.json"))
    assert Path(OLD_ROOT).exists() == old_root_there, f"something was written to {OLD_ROOT}"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_extend_adds_one_trial_under_the_same_parent(project):
    old_root_there = Path(OLD_ROOT).exists()
    (parent,) = runs_of(project, DONE, "study")
    before = runs_of(project, DONE, "trial")

    result = ok(tfcli(project, "study", "extend", DONE, "--num-samples", "1", timeout=540))
    assert "warm-started from 3 finished trial(s)" in result.stdout

    after = runs_of(project, DONE, "trial")
    new = [r for r in after if r["run_uuid"] not in {b["run_uuid"] for b in before}]
    assert len(after) == len(before) + 1 and len(new) == 1
    assert new[0]["status"] == "FINISHED" and new[0]["trial_id"] not in {b["trial_id"] for b in before}
    assert {r["parent"] for r in after} == {parent["run_uuid"]}
    assert [p["run_uuid"] for p in runs_of(project, DONE, "study")] == [parent["run_uuid"]]
    assert (project / "mlruns" / "ray" / f"{DONE}-ext1").is_dir()
    assert Path(OLD_ROOT).exists() == old_root_there, f"something was written to {OLD_ROOT}"
