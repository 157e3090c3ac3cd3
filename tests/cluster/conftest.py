"""Fixtures of the cluster tests: tiny studies and a project folder with a fresh store."""

from __future__ import annotations

from tests.integration.conftest import empty_store_db, project, study_runs, study_text  # noqa: F401 - fixtures

__all__ = ["tiny_study", "study_runs"]


def tiny_study(name: str, **overrides) -> str:
    """Two trials of ten steps each, no early stopping: a study of a few seconds per trial."""
    settings = {"samples": 2, "steps": 10, "scheduler": "{type: fifo}", **overrides}
    return study_text(name, **settings)
