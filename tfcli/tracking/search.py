"""Searches of the store through MLflow's client: studies, their runs, paged searches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from tfcli.tracking.store import Tracking
from tfcli.tracking.tags import ROLE_STUDY, ROLE_TRIAL, TAG_ROLE, TAG_STUDY_ID, tag_field  # noqa: F401  (tag_field: importers' name)

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities import Run


def quote_id(value: str) -> str:
    """An id quoted for a filter string; one with a quote in it is refused."""
    if "'" in value:
        raise ValueError(f"an id must not contain quotes, but got {value!r}")
    return f"'{value}'"


def _experiment_ids(client: "MlflowClient", experiment_id: Optional[str]) -> list[str]:
    if experiment_id is not None:
        return [experiment_id]
    return [e.experiment_id for e in all_experiments(client)]


def all_experiments(client: "MlflowClient") -> list:
    """Every active experiment of the store, all pages."""
    experiments, token = [], None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        experiments.extend(page)
        token = page.token
        if not token:
            return experiments


def search_all(client: "MlflowClient", experiment_ids: list[str], filter_string: str, order_by=None) -> list:
    """Every run of ``experiment_ids`` matching ``filter_string``, all pages of ``search_runs``."""
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


def find_study(tracking: Tracking, name: str) -> Optional["Run"]:
    """The parent run of the study ``name`` (the latest, if the name was used twice), or None."""
    client = tracking.client()
    experiment = client.get_experiment_by_name(name)
    if experiment is None or experiment.lifecycle_stage != "active":
        return None
    runs = search_all(
        client,
        [experiment.experiment_id],
        f"{tag_field(TAG_ROLE)} = '{ROLE_STUDY}'",
        order_by=["attributes.start_time DESC"],
    )
    return runs[0] if runs else None


def parent_run_id(tracking: Tracking, study_id: str, *, experiment_id: Optional[str] = None) -> Optional[str]:
    """The id of the parent run tagged with ``study_id``, or None."""
    client = tracking.client()
    runs = search_all(
        client,
        _experiment_ids(client, experiment_id),
        f"{tag_field(TAG_STUDY_ID)} = {quote_id(study_id)} and {tag_field(TAG_ROLE)} = '{ROLE_STUDY}'",
        order_by=["attributes.start_time ASC"],
    )
    return runs[0].info.run_id if runs else None


def study_runs(tracking: Tracking, study_id: str, *, experiment_id: Optional[str] = None, role: str = ROLE_TRIAL) -> list["Run"]:
    """The child runs of the study ``study_id`` in ``role`` (its trials, or its confirmations), oldest first."""
    client = tracking.client()
    return search_all(
        client,
        _experiment_ids(client, experiment_id),
        f"{tag_field(TAG_STUDY_ID)} = {quote_id(study_id)} and {tag_field(TAG_ROLE)} = '{role}'",
        order_by=["attributes.start_time ASC"],
    )
