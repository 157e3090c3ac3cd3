"""Paged searches of the store's experiments and runs, and the parts of their filter strings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient


def _tag(key: str) -> str:
    return f"tags.`{key}`"


def _quote(value: str) -> str:
    if "'" in value:
        raise ValueError(f"an id must not contain quotes, but got {value!r}")
    return f"'{value}'"


def _experiment_ids(client: "MlflowClient", experiment_id: Optional[str]) -> list[str]:
    if experiment_id is not None:
        return [experiment_id]
    return [e.experiment_id for e in _all_experiments(client)]


def _all_experiments(client: "MlflowClient") -> list:
    experiments, token = [], None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        experiments.extend(page)
        token = page.token
        if not token:
            return experiments


def _search(client: "MlflowClient", experiment_ids: list[str], filter_string: str, order_by=None) -> list:
    if not experiment_ids:
        return []
    runs, token = [], None
    while True:
        page = client.search_runs(
            experiment_ids, filter_string, max_results=1000, order_by=order_by, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs
