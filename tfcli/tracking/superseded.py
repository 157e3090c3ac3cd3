"""Runs that ``resume --rebuild`` replaces: closed, labelled with why, and deleted.

A deleted MLflow run stays in the store (``mlflow runs restore --run-id ID`` brings it
back) but leaves every search, so a rebuilt study shows each configuration once.
"""

from __future__ import annotations

from tfcli.records import Evidence, decide_state
from tfcli.tracking.store import Tracking
from tfcli.tracking.tags import TAG_SUPERSEDED


def supersede_runs(tracking: Tracking, run_ids: list[str], reason: str) -> None:
    """Close each run as KILLED with the tag ``tfcli.superseded=<reason>``, then delete it."""
    if not run_ids:
        return
    client = tracking.client()
    status = decide_state(Evidence(interrupted=True)).mlflow.value  # it never ended: killed
    for run_id in run_ids:
        client.set_tag(run_id, TAG_SUPERSEDED, reason)
        client.set_terminated(run_id, status)
        client.delete_run(run_id)
