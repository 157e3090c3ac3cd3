"""Held-out test scores: the best checkpoints of a study's top trials, scored on the test split.

A study chooses its winner on the validation split, so the winner's validation score is
optimistic. When a study ends (and on demand, ``tfcli report NAME --test``) the top
``report.test_top`` trials by the objective, and every finished confirmation run, are scored
on the test split as Ray tasks (so they run on the cluster like the trials did), with the
study's decoding and metric settings; each result lands on its run as ``test/<metric>``
(:mod:`tfcli.tracking.test_scores`). A run that already has its test score is not scored
again, so an interrupted scoring resumes where it stopped. Test scores never rank trials.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Mapping, Optional, Sequence

from tfcli import tracking as tr
from tfcli.records import Confirmation, TrialRecord, TrialStatus
from tfcli.report.ranking import rank_trials
from tfcli.report.values import tie_losses
from tfcli.spec.schema import StudySpec
from tfcli.spec.trial import spec_from_payload, study_payload, trial_spec
from tfcli.train.checkpoint import CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE
from tfcli.train.held_out import evaluate_checkpoint_files
from tfcli.tracking.test_scores import log_test_scores, test_metric

_FILES = (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE)


def runs_to_score(
    spec: StudySpec,
    records: Sequence[TrialRecord],
    confirmations: Sequence[Confirmation],
    top: int,
    losses: Optional[Mapping[str, float]] = None,
) -> list[TrialRecord]:
    """The top ``top`` finished trials by the objective and the finished confirmation runs
    that have a checkpoint and no test score yet, best trials first. ``losses``: the tied
    trials' validation loss by run id (:func:`tfcli.report.values.tie_losses`), so that the
    top ``top`` are the report's, by the one tie rule."""
    metric, mode = spec.primary_objective.metric, spec.primary_objective.mode
    finished = [r for r in records if r.status is TrialStatus.FINISHED and not r.error and r.has_checkpoint]
    ranked = [row.record for row in rank_trials(finished, metric, mode, at="best", losses=losses).ranked[:top]] if top else []
    confirmed = [c.record for c in confirmations if c.record.status is TrialStatus.FINISHED and c.record.has_checkpoint and not c.record.error]
    return [r for r in [*ranked, *confirmed] if test_metric(metric) not in r.metrics]


def _evaluate(payload: dict, config: dict, files: dict) -> tuple[dict, list]:
    """The Ray task: the trial's spec rebuilt on the worker, its checkpoint scored on test."""
    return evaluate_checkpoint_files(trial_spec(spec_from_payload(payload), config), files, "test")


def _checkpoint_files(tracking, record: TrialRecord) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="tfcli-held-out-") as tmp:
        files = {}
        for name in _FILES:
            path = tr.download_run_artifact(
                tracking, record.run_id, f"{tr.CHECKPOINT_ARTIFACT_PATH}/{name}", Path(tmp), artifact_uri=record.artifact_uri
            )
            if path is not None and path.is_file():
                files[name] = path.read_bytes()
        return files


def score_on_test(tracking, spec: StudySpec, study_id: str, *, top: int | None = None) -> list[str]:
    """Score what :func:`runs_to_score` names on Ray (already initialised); one line per run
    that could not be scored (no checkpoint files, or an error on the worker)."""
    import ray

    records = tr.trial_records(tracking, spec.name, history=False)
    losses = tie_losses(tracking, records, spec.primary_objective.metric, "best")
    todo = runs_to_score(spec, records, tr.confirmation_records(tracking, spec.name), spec.report.test_top if top is None else top, losses)
    if not todo:
        return []
    task = ray.remote(num_cpus=spec.resources.cpu, num_gpus=spec.resources.gpu)(_evaluate)
    payload = study_payload(spec, study_id=study_id)
    problems, pending = [], []
    for record in todo:
        files = _checkpoint_files(tracking, record)
        if set(files) != set(_FILES):
            problems.append(f"trial {record.trial_id}: its checkpoint lacks {', '.join(sorted(set(_FILES) - set(files)))}")
            continue
        pending.append((record, task.remote(payload, dict(record.final_config or record.config), files)))
    for record, ref in pending:
        try:
            metrics, outputs = ray.get(ref)
        except Exception as err:  # noqa: BLE001 - one run's failure must not lose the others' scores
            problems.append(f"trial {record.trial_id}: scoring on test failed: {str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__}")
            continue
        log_test_scores(tracking, record.run_id, metrics, outputs, step=record.checkpoint_step)
    return problems
