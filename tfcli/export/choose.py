"""Choosing the trial of a study to export: the one named, or the best finished one (among
those that pass ``--where``, the report's conditions)."""

from __future__ import annotations

from typing import Optional, Sequence

from tfcli.export.folder import ExportError
from tfcli.records import TrialRecord, TrialStatus
from tfcli.report.ranking import Condition, rank_trials
from tfcli.report.values import tie_losses
from tfcli.spec.objective import choose_metric


def _trial_ids(records: Sequence[TrialRecord]) -> str:
    return ", ".join(f"{r.label} = {r.trial_id} ({r.status.value})" if r.number is not None else f"{r.trial_id} ({r.status.value})" for r in records) or "none"


def find_trial(records: Sequence[TrialRecord], trial: str) -> TrialRecord:
    """The trial ``trial`` names: its number (``5``), its id, the id's numeric end with
    Ray's zeros (``00002``), or its run id."""
    exact = [r for r in records if trial in (r.trial_id, r.run_id)]
    if not exact and trial.isdigit() and (trial == "0" or not trial.startswith("0")):
        exact = [r for r in records if r.number == int(trial)]
    if not exact:
        exact = [r for r in records if r.trial_id.endswith(f"_{trial}") or r.trial_id.split("_")[-1] == trial]
    if len(exact) != 1:
        what = "no trial" if not exact else f"{len(exact)} trials"
        raise ExportError(f"--trial must name one trial of the study, but {what} match {trial!r} (trials: {_trial_ids(records)})")
    return exact[0]


def choose_trial(
    records: Sequence[TrialRecord],
    *,
    study: str,
    trial: Optional[str] = None,
    metric: Optional[str] = None,
    mode: Optional[str] = None,
    where: Sequence[Condition] = (),
    tracking=None,
) -> TrialRecord:
    """The trial to export: ``trial`` if given, else the best finished one with a checkpoint;
    never one that broke the study's ``search.constraints`` (``record.infeasible``).

    Best means by ``metric`` (default: the first objective) under ``mode``, each trial's best
    value (``record.best`` must hold the metric's best when it is not the objective), among the
    trials for which every ``where`` condition holds (as in ``tfcli report --where``: a metric
    other than ``metric`` is compared at its last logged value). The order is the report's
    (:func:`~tfcli.spec.objective.rank_records`); ``tracking``, when given, is read for the
    validation loss that breaks a tie (as the report does).
    """
    if trial is not None and where:
        raise ExportError("--where picks the best trial that passes it; name a trial with --trial or filter with --where, not both")
    if trial is not None:
        record = find_trial(records, trial)
        if record.status is not TrialStatus.FINISHED or not record.has_checkpoint:
            state = record.status.value if record.status is not TrialStatus.FINISHED else "FINISHED without a checkpoint"
            raise ExportError(f"the trial to export must have finished with a checkpoint, but {record.trial_id} is {state}")
        if record.infeasible:
            raise ExportError(f"the trial to export must keep the study's search.constraints, but trial {record.label} broke {record.infeasible}")
        return record
    done = [r for r in records if r.status is TrialStatus.FINISHED and r.has_checkpoint and not r.error]
    if not done:
        counts: dict[str, int] = {}
        for r in records:
            counts[r.status.value] = counts.get(r.status.value, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no trials"
        raise ExportError(f"export needs a finished trial with a checkpoint, but study {study!r} has none ({summary})")
    metric, mode = choose_metric(
        records,
        study=study,
        metric=metric,
        mode=mode,
        objective_metric=next((r.objective_metric for r in records if r.objective_metric), None),
        objective_mode=next((r.objective_mode for r in records if r.objective_mode), None),
    )
    losses = tie_losses(tracking, done, metric, "best") if tracking is not None else None
    ranking = rank_trials(done, metric, mode, at="best", where=where, losses=losses)
    if ranking.best is None and where:
        conditions = " and ".join(c.text for c in where)
        raise ExportError(
            f"export --where needs a finished trial with a checkpoint for which {conditions} holds, but none of the "
            f"{len(done)} finished trial{'s' if len(done) != 1 else ''} of {study!r} passes ({ranking.filtered_out} filtered out)"
        )
    if ranking.best is None and any(r.infeasible for r in done):
        raise ExportError(
            f"export needs a feasible finished trial, but every finished trial of {study!r} with a {metric} value broke its "
            "search.constraints (`tfcli report` lists them apart, with the constraint each broke)"
        )
    if ranking.best is None:
        raise ExportError(f"export needs a finished trial with a {metric} value, but no finished trial of {study!r} has one")
    return ranking.best.record
