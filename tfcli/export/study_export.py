"""Exporting a trial of a study: its checkpoint's files and the export's ``config.json``."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from pydantic import BaseModel

from tfcli import __version__, tracking as tr
from tfcli.export.choose import choose_trial
from tfcli.export.folder import EXPORT_FILES, EXPORT_FORMAT, README_FILE, ExportError
from tfcli.export.model_card import model_card
from tfcli.metrics import MetricSettings, compute_metrics
from tfcli.model.config import parameter_count
from tfcli.records import TrialRecord, TrialStatus
from tfcli.report.baselines import compare_with_baselines
from tfcli.report.confirmed import confirmed_block
from tfcli.report.ranking import Condition
from tfcli.spec.schema import DataSpec, EvalSpec, TrainSpec
from tfcli.spec.tasks import TASKS
from tfcli.tracking.baselines import baselines_from_metrics
from tfcli.tracking.test_scores import TEST_METRIC_PREFIX
from tfcli.train.checkpoint import CONFIG_FILE, METRICS_FILE, MODEL_FILE, OUTPUTS_FILE, TOKENIZER_FILE

_CHECKPOINT_FILES = (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE, METRICS_FILE, OUTPUTS_FILE)


#: ``--by``: how ``export`` picks the trial when none is named.
BY_CHOICES = ("auto", "best-trial")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    record: TrialRecord
    config: dict
    chosen_by: str = "the best trial"


def export_study(
    tracking,
    study: str,
    out: str | Path,
    *,
    trial: Optional[str] = None,
    metric: Optional[str] = None,
    mode: Optional[str] = None,
    force: bool = False,
    by: str = "auto",
) -> ExportResult:
    """Export the best (or the named) trial of ``study`` to the folder ``out``.

    ``by="auto"``: when ``tfcli study confirm`` has run and no trial or metric is named, the
    trial whose configuration has the best confirmed mean across seeds
    (:func:`confirmed_choice`); otherwise, and with ``by="best-trial"``, the best trial.
    The files come from the trial's ``checkpoint/`` artifacts, downloaded through MLflow (so a
    remote tracking server works too); ``trainer_state.pt`` is not downloaded.
    """
    if by not in BY_CHOICES:
        raise ExportError(f"--by must be one of {', '.join(BY_CHOICES)}, but got {by!r}")
    out = _check_out(Path(out), force)
    snapshot, records = _study_records(tracking, study, metric, trial)
    record = choose_trial(records, study=study, trial=trial, metric=metric, mode=mode, tracking=tracking)
    chosen_by, confirmed = ("the named trial" if trial else "the best trial"), None
    if trial is None and metric is None:
        record, chosen_by, confirmed = confirmed_choice(tracking, snapshot, records, record, chosen_by, pick=by == "auto")
    baseline = compare_with_baselines(
        baselines_from_metrics(snapshot.study.metrics),
        snapshot.study.objective_metric or "",
        snapshot.study.objective_mode or "max",
        record.trial_id,
        record.objective_value,
    )
    with tempfile.TemporaryDirectory(prefix="tfcli-export-") as tmp:
        folder = _download_checkpoint(tracking, record, Path(tmp))
        checkpoint_config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        logged = _read_json(folder / METRICS_FILE) or {}
        outputs = _read_jsonl(folder / OUTPUTS_FILE)
        config = export_config(
            checkpoint_config,
            record=record,
            study=snapshot.study,
            tracking_uri=tracking.uri,
            logged_metrics=logged,
            outputs=outputs,
            parameters=_tag_int(snapshot.tags.get(record.run_id, {}).get(tr.TAG_PARAMETERS)),
            baseline=baseline.to_dict() if baseline else None,
            confirmed=confirmed,
            test={k[len(TEST_METRIC_PREFIX):]: v for k, v in record.metrics.items() if k.startswith(TEST_METRIC_PREFIX)},
        )
        _copy_weights(folder, out, force)
    if config["training"]["parameters"] is None:
        config["training"]["parameters"] = parameter_count(config["model"])
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    (out / README_FILE).write_text(model_card(config), encoding="utf-8")
    return ExportResult(path=out, record=record, config=config, chosen_by=chosen_by)


def _copy_weights(folder: Path, out: Path, force: bool) -> None:
    """The checkpoint's weights and tokenizer into ``out``; under ``force``, an earlier
    export's files there are removed first."""
    if out.exists() and force:
        for name in EXPORT_FILES:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / MODEL_FILE, out / MODEL_FILE)
    shutil.copyfile(folder / TOKENIZER_FILE, out / TOKENIZER_FILE)


def best_trial_where(
    tracking, study: str, where: Sequence[Condition], *, trial: Optional[str] = None, metric: Optional[str] = None, mode: Optional[str] = None
) -> tuple[str, str]:
    """The id of the best finished trial (by ``metric``, default the first objective) among
    those that pass every ``where`` condition, and how it was chosen; an :class:`ExportError`
    (exit 2) when none does. ``tfcli export --where`` exports it as the named trial."""
    _, records = _study_records(tracking, study, metric, trial)
    record = choose_trial(records, study=study, trial=trial, metric=metric, mode=mode, where=where, tracking=tracking)
    return record.trial_id, f"the best trial where {' and '.join(c.text for c in where)}"


def _study_records(tracking, study: str, metric: Optional[str], trial: Optional[str]):
    """The study as stored and its trials, each with ``metric``'s history when the choice ranks
    by a metric other than the objective."""
    snapshot = tr.load_study(tracking, study)
    records = snapshot.trials
    if metric is not None and trial is None and metric != snapshot.study.objective_metric:
        records = tr.with_history(tracking, records, metric)
    return snapshot, records


def confirmed_choice(tracking, snapshot, records: Sequence[TrialRecord], best: TrialRecord, chosen_by: str, *, pick: bool):
    """(record, how it was chosen, its configuration's confirmed figures) for a confirmed study.

    With ``pick``, the record becomes the trial whose configuration has the best mean
    objective across its seeds (:class:`~tfcli.report.confirmed.ConfirmedBlock`); without it,
    ``best`` stays and only its figures are added. Without confirmations of the chosen
    configuration, or when the confirmed winner's trial has no checkpoint, ``best`` stays
    with no figures.
    """
    study = snapshot.study
    block = confirmed_block(
        tr.confirmation_records(tracking, study.name),
        winner=best.trial_id,
        metric=study.objective_metric or "",
        mode=study.objective_mode or "max",
        task=study.task,
    )
    if block is None:
        return best, chosen_by, None
    top = block.best_confirmed if pick else next((c for c in block.configs if c.trial_id == best.trial_id), None)
    record = best
    if pick and top is not None:
        record = next((r for r in records if r.trial_id == top.trial_id and r.has_checkpoint and r.status is TrialStatus.FINISHED), None)
        if record is None:
            return best, chosen_by, None
        chosen_by = f"the best mean {block.metric} across seeds ({len(top.seeds)} seeds, tfcli study confirm)"
    if top is None:
        return best, chosen_by, None
    figures = {**top.to_dict(), "verdict": block.verdict, "verdict_text": block.sentence(), "metric": block.metric}
    return record, chosen_by, figures


def _read_json(path: Path) -> Optional[dict]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _tag_int(text: Optional[str]) -> Optional[int]:
    try:
        return int(float(text)) if text not in (None, "") else None
    except ValueError:
        return None


def _finite(value: Any) -> Any:
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _check_out(out: Path, force: bool) -> Path:
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out must be a folder, but {out} is a file")
    if out.exists() and any(out.iterdir()) and not force:
        raise ExportError(f"--out must be a new or empty folder, but {out} holds files (use --force to replace them)")
    return out


def _download_checkpoint(tracking, record: TrialRecord, folder: Path) -> Path:
    """The trial's checkpoint files (all but the trainer state) into ``folder``."""
    for name in _CHECKPOINT_FILES:
        got = tr.download_run_artifact(tracking, record.run_id, f"{tr.CHECKPOINT_ARTIFACT_PATH}/{name}", folder, artifact_uri=record.artifact_uri)
        if got is None and name in (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE):
            raise ExportError(
                f"the trial's checkpoint must hold {name}, but run {record.run_id} of trial "
                f"{record.trial_id} has no artifact {tr.CHECKPOINT_ARTIFACT_PATH}/{name}"
            )
    return folder


def export_config(
    checkpoint: Mapping[str, Any],
    *,
    record: TrialRecord,
    study,
    tracking_uri: str,
    logged_metrics: Mapping[str, Any],
    outputs: Sequence[Mapping[str, Any]],
    parameters: Optional[int] = None,
    baseline: Optional[Mapping[str, Any]] = None,
    confirmed: Optional[Mapping[str, Any]] = None,
    test: Optional[Mapping[str, float]] = None,
) -> dict:
    """The export's ``config.json`` from the checkpoint's config and the trial's record.

    Keys: ``format``, ``task``, ``model`` (TransformerConfig), ``labels``, ``tokenizer``,
    ``decoding``, ``metrics`` (``split``, ``step``, ``values``, ``signatures``, ``settings``,
    and ``baseline``: the best baseline of the study on the objective and the exported
    trial's margin over it, :meth:`~tfcli.report.baselines.BaselineComparison.to_dict`, or None;
    ``confirmed``: its configuration's figures across seeds and the verdict, or None;
    ``test``: the trial's held-out test scores by metric, or None),
    ``hyperparameters`` (the searched values), ``study_spec`` (the trial's resolved study),
    ``training`` (steps, time, parameters, device, precision) and ``provenance`` (study
    name and id, trial id, run ids, experiment id, tracking URI, artifact URI, step).
    """
    spec = dict(checkpoint.get("study") or {})
    task = checkpoint.get("task") or (spec.get("task") or {}).get("type")
    data = _section(DataSpec, spec.get("data"))
    evaluation = _section(EvalSpec, spec.get("eval"))
    model = dict(checkpoint.get("model") or {})
    settings = MetricSettings.from_eval(evaluation)
    numbers = {k: _finite(float(v)) for k, v in logged_metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    step = checkpoint.get("step", record.checkpoint_step)
    return {
        "format": EXPORT_FORMAT,
        "task": task,
        "model": model,
        "labels": checkpoint.get("labels"),
        "tokenizer": _tokenizer_section(data, model),
        "decoding": {
            "beam_size": evaluation.beam_size,
            "length_penalty": evaluation.length_penalty,
            "max_decode_length": evaluation.max_decode_length or data.max_target_length,
            "batch_size": evaluation.batch_size,
            "batch_tokens": _section(TrainSpec, spec.get("train")).batch_tokens,
        },
        "metrics": {
            **_metrics_section(task, outputs, numbers, settings, step),
            "baseline": dict(baseline) if baseline else None,
            "confirmed": dict(confirmed) if confirmed else None,
            "test": {k: _finite(float(v)) for k, v in (test or {}).items()} or None,
        },
        "hyperparameters": dict(record.final_config or record.config),
        "data": {"source": (spec.get("task") or {}).get("data"), **dict(spec.get("data") or {})},
        "study_spec": spec,
        "training": _training_section(record, numbers, step, parameters, dict(checkpoint.get("placement") or {})),
        "provenance": _provenance(record, study, tracking_uri, step),
    }


def _section(section: type[BaseModel], raw: Any) -> Any:
    """A study-file section from a stored spec, its defaults filled from the schema (unknown
    keys, as an older or newer tfcli may have written, are left out)."""
    raw = raw if isinstance(raw, Mapping) else {}
    return section.model_validate({k: v for k, v in raw.items() if k in section.model_fields})


def _tokenizer_section(data: DataSpec, model: Mapping[str, Any]) -> dict:
    longest = int(model.get("max_length") or 0) or 10**9
    return {
        "file": TOKENIZER_FILE,
        "kind": data.tokenizer,
        "vocab_size": model.get("vocab_size"),
        "requested_vocab_size": data.vocab_size,
        "lowercase": data.lowercase,
        "max_source_length": min(data.max_source_length, longest),
        "max_target_length": min(data.max_target_length, longest),
    }


def _metrics_section(task: Optional[str], outputs: Sequence[Mapping[str, Any]], numbers: Mapping[str, Any], settings, step) -> dict:
    """The validation metrics: those logged for the task, and any the saved outputs give that
    were not logged, recomputed with the study's settings (with their signatures)."""
    signatures: dict[str, str] = {}
    recomputed: dict[str, float] = {}
    if outputs and task:
        predictions = [o.get("prediction") for o in outputs]
        references = [
            o.get("reference") if task == "classification" else (o.get("reference") if isinstance(o.get("reference"), list) else [o.get("reference")])
            for o in outputs
        ]
        result = compute_metrics(task, predictions, references, settings)
        signatures, recomputed = dict(result.signatures), dict(result.scores)
    task_metrics = set(TASKS[task].metrics) if task in TASKS else set(recomputed) | {"loss"}
    values = {k: v for k, v in numbers.items() if k in task_metrics}
    for name, value in recomputed.items():
        values.setdefault(name, value)
    return {
        "split": "valid",
        "step": step,
        "examples": len(outputs) or None,
        "values": values,
        "signatures": signatures,
        "settings": settings.to_dict(),
    }


def _training_section(record: TrialRecord, numbers: Mapping[str, Any], step, parameters: Optional[int], placement: Mapping[str, Any]) -> dict:
    return {
        "steps": record.last_step,
        "checkpoint_step": step,
        "duration_s": record.duration_s,
        "checkpoint_elapsed_s": numbers.get("elapsed_s"),
        "tokens_per_s": numbers.get("tokens_per_s"),
        "train_loss": numbers.get("train_loss"),
        "lr": numbers.get("lr"),
        "epoch": numbers.get("epoch"),
        "parameters": parameters,
        "device": placement.get("device"),
        "precision": placement.get("precision"),
    }


def _provenance(record: TrialRecord, study, tracking_uri: str, step) -> dict:
    return {
        "study": record.study,
        "study_id": record.study_id,
        "trial_id": record.trial_id,
        "trial_number": record.number,
        "run_id": record.run_id,
        "parent_run_id": getattr(study, "run_id", None),
        "experiment_id": getattr(study, "experiment_id", None),
        "tracking_uri": tracking_uri,
        "artifact_uri": record.artifact_uri,
        "step": step,
        "objective": {"metric": record.objective_metric, "mode": record.objective_mode, "value": _finite(record.objective_value)},
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "tfcli_version": __version__,
    }
