"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("COLUMNS", "200")
# Ray starts its workers at niceness 15, below the other test process of -n 2: while that one
# computes, the trials of a study here got a few percent of a core and took minutes to start.
# Every Ray the suite starts (in process or through a tfcli subprocess) inherits this.
os.environ.setdefault("RAY_worker_niceness", "0")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Tokenizer and data caches go to a per-session temporary folder, never ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "tfcli-cache"
    cache.mkdir(exist_ok=True)
    monkeypatch.setenv("TFCLI_CACHE", str(cache))


@pytest.fixture
def cli():
    """Invoke the tfcli app in-process with a fixed terminal width."""
    from typer.testing import CliRunner

    from tfcli.cli import app

    runner = CliRunner()

    def invoke(*args: str, **kwargs):
        env = {"COLUMNS": "200", **kwargs.pop("env", {})}
        return runner.invoke(app, [str(a) for a in args], env=env, **kwargs)

    return invoke
