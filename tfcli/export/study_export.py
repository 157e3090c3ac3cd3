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

from tfcli.export.choose import choose_trial
from tfcli.export.folder import EXPORT_FILES, EXPORT_FORMAT, README_FILE, ExportError
from tfcli.export.model_card import model_card
from tfcli.model.config import parameter_count
from tfcli.records import TrialRecord
from tfcli.train.checkpoint import CONFIG_FILE, METRICS_FILE, MODEL_FILE, OUTPUTS_FILE, TOKENIZER_FILE

_CHECKPOINT_FILES = (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE, METRICS_FILE, OUTPUTS_FILE)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    record: TrialRecord
    config: dict


def export_study(
    tracking,
    study: str,
    out: str | Path,
    *,
    trial: Optional[str] = None,
    metric: Optional[str] = None,
    mode: Optional[str] = None,
    force: bool = False,
) -> ExportResult:
    """Export the best (or the named) trial of ``study`` to the folder ``out``.

    The files come from the trial's ``checkpoint/`` artifacts, downloaded through MLflow (so a
    remote tracking server works too); ``trainer_state.pt`` is not downloaded.
    """
    from tfcli import tracking as tr

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out must be a folder, but {out} is a file")
    if out.exists() and any(out.iterdir()) and not force:
        raise ExportError(f"--out must be a new or empty folder, but {out} holds files (use --force to replace them)")
    snapshot = tr.load_study(tracking, study)
    records = snapshot.trials
    if metric is not None and trial is None and metric != snapshot.study.objective_metric:
        records = tr.with_history(tracking, records, metric)
    record = choose_trial(records, study=study, trial=trial, metric=metric, mode=mode)
    with tempfile.TemporaryDirectory(prefix="tfcli-export-") as tmp:
        folder = Path(tmp)
        for name in _CHECKPOINT_FILES:
            got = tr.download_run_artifact(
                tracking, record.run_id, f"{tr.CHECKPOINT_ARTIFACT_PATH}/{name}", folder, artifact_uri=record.artifact_uri
            )
            if got is None and name in (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE):
                raise ExportError(
                    f"the trial's checkpoint must hold {name}, but run {record.run_id} of trial "
                    f"{record.trial_id} has no artifact {tr.CHECKPOINT_ARTIFACT_PATH}/{name}"
                )
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
        )
        if out.exists() and force:
            for name in EXPORT_FILES:
                (out / name).unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / MODEL_FILE, out / MODEL_FILE)
        shutil.copyfile(folder / TOKENIZER_FILE, out / TOKENIZER_FILE)
    if config["training"]["parameters"] is None:
        config["training"]["parameters"] = parameter_count(config["model"])
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    (out / README_FILE).write_text(model_card(config), encoding="utf-8")
    return ExportResult(path=out, record=record, config=config)


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


def export_config(
    checkpoint: Mapping[str, Any],
    *,
    record: TrialRecord,
    study,
    tracking_uri: str,
    logged_metrics: Mapping[str, Any],
    outputs: Sequence[Mapping[str, Any]],
    parameters: Optional[int] = None,
) -> dict:
    """The export's ``config.json`` from the checkpoint's config and the trial's record.

    Keys: ``format``, ``task``, ``model`` (TransformerConfig), ``labels``, ``tokenizer``,
    ``decoding``, ``metrics`` (``split``, ``step``, ``values``, ``signatures``, ``settings``),
    ``hyperparameters`` (the searched values), ``study_spec`` (the trial's resolved study),
    ``training`` (steps, time, parameters, device, precision) and ``provenance`` (study
    name and id, trial id, run ids, experiment id, tracking URI, artifact URI, step).
    """
    from tfcli import __version__
    from tfcli.spec.tasks import TASKS
    from tfcli.metrics import MetricSettings, compute_metrics

    spec = dict(checkpoint.get("study") or {})
    task = checkpoint.get("task") or (spec.get("task") or {}).get("type")
    data = dict(spec.get("data") or {})
    model = dict(checkpoint.get("model") or {})
    evaluation = dict(spec.get("eval") or {})
    train = dict(spec.get("train") or {})
    max_length = int(model.get("max_length") or 0) or None
    settings = MetricSettings.from_eval(evaluation)
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
    numbers = {k: _finite(float(v)) for k, v in logged_metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    task_metrics = set(TASKS[task].metrics) if task in TASKS else set(recomputed) | {"loss"}
    values = {k: v for k, v in numbers.items() if k in task_metrics}
    for name, value in recomputed.items():
        values.setdefault(name, value)
    step = checkpoint.get("step", record.checkpoint_step)
    placement = dict(checkpoint.get("placement") or {})
    return {
        "format": EXPORT_FORMAT,
        "task": task,
        "model": model,
        "labels": checkpoint.get("labels"),
        "tokenizer": {
            "file": TOKENIZER_FILE,
            "kind": data.get("tokenizer"),
            "vocab_size": model.get("vocab_size"),
            "requested_vocab_size": data.get("vocab_size"),
            "lowercase": data.get("lowercase"),
            "max_source_length": min(int(data.get("max_source_length", 128)), max_length or 10**9),
            "max_target_length": min(int(data.get("max_target_length", 64)), max_length or 10**9),
        },
        "decoding": {
            "beam_size": int(evaluation.get("beam_size", 1)),
            "length_penalty": float(evaluation.get("length_penalty", 1.0)),
            "max_decode_length": evaluation.get("max_decode_length") or data.get("max_target_length"),
            "batch_size": int(evaluation.get("batch_size", 64)),
            "batch_tokens": int(train.get("batch_tokens", 2048)),
        },
        "metrics": {
            "split": "valid",
            "step": step,
            "examples": len(outputs) or None,
            "values": values,
            "signatures": signatures,
            "settings": settings.to_dict(),
        },
        "hyperparameters": dict(record.final_config or record.config),
        "data": {"source": (spec.get("task") or {}).get("data"), **data},
        "study_spec": spec,
        "training": {
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
        },
        "provenance": {
            "study": record.study,
            "study_id": record.study_id,
            "trial_id": record.trial_id,
            "run_id": record.run_id,
            "parent_run_id": getattr(study, "run_id", None),
            "experiment_id": getattr(study, "experiment_id", None),
            "tracking_uri": tracking_uri,
            "artifact_uri": record.artifact_uri,
            "step": step,
            "objective": {"metric": record.objective_metric, "mode": record.objective_mode, "value": _finite(record.objective_value)},
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "tfcli_version": __version__,
        },
    }
