"""A study's trials ready to rank: each trial's value at ``best`` or ``last`` read from the
store where its tags lack it, and the validation loss that breaks a tie (read only for the
trials that tie). :func:`rank_study` is what the report, ``study best`` and ``export`` rank by.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

from tfcli.records import TrialRecord
from tfcli.report.ranking import Condition, Ranking, rank_trials
from tfcli.spec.objective import TIE_BREAK_METRIC, tied_records, value_of
from tfcli.tracking.reading import metric_histories, with_history
from tfcli.tracking.tags import TAG_OBJECTIVE_VALUE


def objective_from_history(tracking, records: Sequence[TrialRecord], tags: dict, metric: str) -> list[TrialRecord]:
    """Trials without the ``tfcli.objective_value`` tag (still running, or ended without a
    checkpoint) get the objective's best value and step from its history, not its last value."""
    untagged = {r.run_id for r in records if TAG_OBJECTIVE_VALUE not in tags.get(r.run_id, {}) and metric in r.metrics}
    if not untagged:
        return list(records)
    out = []
    for record in with_history(tracking, records, metric, only=untagged):
        best = record.best.get(metric) if record.run_id in untagged else None
        out.append(dataclasses.replace(record, objective_value=best.value, objective_step=best.step) if best else record)
    return out


def with_best_values(tracking, snapshot, records: Sequence[TrialRecord], metric: str, at: str) -> list[TrialRecord]:
    """``records`` ready to rank by ``metric`` at ``at``: for ``best``, each trial's best value
    (the objective's from its tags or history, any other metric's from its history)."""
    if at != "best":
        return list(records)
    if metric != snapshot.study.objective_metric:
        return with_history(tracking, records, metric)
    return objective_from_history(tracking, records, snapshot.tags, metric)


def tie_losses(tracking, records: Sequence[TrialRecord], metric: str, at: str) -> dict[str, float]:
    """``{run id: validation loss at the step of its ranking value}`` for the trials whose value
    another trial has too (read from the loss history; at ``last`` the records hold it)."""
    tied = tied_records(records, metric, at) if at == "best" else []
    if not tied:
        return {}
    histories = metric_histories(tracking, [r.run_id for r in tied], TIE_BREAK_METRIC)
    losses = {}
    for record in tied:
        loss = value_at_step(histories.get(record.run_id) or (), value_of(record, metric, at).step)
        if loss is not None:
            losses[record.run_id] = loss
    return losses


def value_at_step(points: Sequence[tuple[int, float]], step: Optional[int]) -> Optional[float]:
    """The value logged at ``step`` (the last one logged there), or None."""
    found = None
    for s, v in points:
        if step is not None and s == step:
            found = v
    return found


def rank_study(
    tracking, snapshot, records: Sequence[TrialRecord], metric: str, mode: str, *, at: str = "best", where: Sequence[Condition] = ()
) -> tuple[list[TrialRecord], Ranking]:
    """``records`` with their values read, and their ranking by the one tie rule
    (:func:`tfcli.spec.objective.rank_records`)."""
    records = with_best_values(tracking, snapshot, records, metric, at)
    ranking = rank_trials(records, metric, mode, at=at, where=where, losses=tie_losses(tracking, records, metric, at))
    return records, ranking
