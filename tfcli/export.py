"""Exported models: a trial's checkpoint as a self-describing folder, and loading it to predict.

An export folder holds:

- ``model.safetensors``: the weights, as the trial's checkpoint saved them;
- ``config.json``: everything needed to rebuild and use the model (see :func:`export_config`):
  the model architecture, the task and its labels, the tokenizer settings, the decoding
  settings the trial was evaluated with, its validation metrics with their signatures, its
  hyperparameters, and where it came from (study, trial, run, tracking URI, step);
- ``tokenizer.json``: the subword tokenizer;
- ``README.md``: a model card.

Loading reads JSON and safetensors only: nothing is unpickled, and ``torch.load`` is never
called (the checkpoint's ``trainer_state.pt`` is not exported). :class:`ExportedModel`
predicts with the same task runtime and decoding code the trial's evaluation used
(:mod:`tfcli.train.tasks`, :mod:`tfcli.model.decode`) and the same batching, so predicting the
validation inputs reproduces the trial's validation outputs.

``tfcli export --register NAME`` also logs the folder as an MLflow pyfunc model (a "models
from code" model, :mod:`tfcli.serving`) and registers a version with the alias ``best``.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from tfcli.errors import DataError, UserError
from tfcli.records import TrialRecord, TrialStatus
from tfcli.train.checkpoint import CONFIG_FILE, METRICS_FILE, MODEL_FILE, OUTPUTS_FILE, TOKENIZER_FILE

EXPORT_FORMAT = "tfcli-export/1"
README_FILE = "README.md"
EXPORT_FILES = (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE, README_FILE)
#: The key of the export folder among an MLflow pyfunc model's artifacts (see tfcli.serving).
ARTIFACT_KEY = "export"
#: The pyfunc model's input columns per task.
INPUT_COLUMNS = {
    "translation": ["text"],
    "summarization": ["text"],
    "classification": ["text"],
    "qa": ["context", "question"],
}
_CHECKPOINT_FILES = (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE, METRICS_FILE, OUTPUTS_FILE)


class ExportError(UserError):
    """A study, trial or folder that cannot be exported or loaded."""


# --- choosing and exporting a trial ------------------------------------------------------------


def _trial_ids(records: Sequence[TrialRecord]) -> str:
    return ", ".join(f"{r.trial_id} ({r.status.value})" for r in records) or "none"


def find_trial(records: Sequence[TrialRecord], trial: str) -> TrialRecord:
    """The trial ``trial`` names: its id, the id's numeric end (``00002``), or its run id."""
    exact = [r for r in records if trial in (r.trial_id, r.run_id)]
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
) -> TrialRecord:
    """The trial to export: ``trial`` if given, else the best finished one with a checkpoint.

    Best means by ``metric`` (default: the objective) under ``mode``, each trial's best value
    (``record.best`` must hold the metric's best when it is not the objective).
    """
    from tfcli.report.ranking import check_metric, default_mode, rank_trials

    if trial is not None:
        record = find_trial(records, trial)
        if record.status is not TrialStatus.FINISHED or not record.has_checkpoint:
            state = record.status.value if record.status is not TrialStatus.FINISHED else "FINISHED without a checkpoint"
            raise ExportError(f"the trial to export must have finished with a checkpoint, but {record.trial_id} is {state}")
        return record
    done = [r for r in records if r.status is TrialStatus.FINISHED and r.has_checkpoint and not r.error]
    if not done:
        counts: dict[str, int] = {}
        for r in records:
            counts[r.status.value] = counts.get(r.status.value, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no trials"
        raise ExportError(f"export needs a finished trial with a checkpoint, but study {study!r} has none ({summary})")
    objective = next((r.objective_metric for r in records if r.objective_metric), None)
    objective_mode = next((r.objective_mode for r in records if r.objective_mode), None)
    metric = metric or objective
    if metric is None:
        raise ExportError(f"study {study!r} names no objective; choose a trial with --trial or a metric with --metric")
    check_metric(metric, records)
    mode = mode or default_mode(metric, objective, objective_mode)
    ranking = rank_trials(done, metric, mode, at="best")
    if ranking.best is None:
        raise ExportError(f"export needs a finished trial with a {metric} value, but no finished trial of {study!r} has one")
    return ranking.best.record


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
        from tfcli.report.build import with_history

        records = with_history(tracking, records, metric)
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
    from tfcli.data.tasks import TASKS
    from tfcli.metrics import MetricSettings, compute_metrics

    spec = dict(checkpoint.get("study") or {})
    task = checkpoint.get("task") or (spec.get("task") or {}).get("type")
    data = dict(spec.get("data") or {})
    model = dict(checkpoint.get("model") or {})
    evaluation = dict(spec.get("eval") or {})
    train = dict(spec.get("train") or {})
    max_length = int(model.get("max_length") or 0) or None
    settings = MetricSettings(
        bleu_tokenize=evaluation.get("bleu_tokenize", "13a"),
        rouge_tokenizer=evaluation.get("rouge_tokenizer", "auto"),
        bootstrap_resamples=int(evaluation.get("bootstrap_resamples", 1000)),
    )
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


def parameter_count(model_config: Mapping[str, Any]) -> Optional[int]:
    """The parameter count of the model ``model_config`` (a TransformerConfig dict) describes.

    Counted from the architecture of :mod:`tfcli.model.transformer` without building the
    model (no torch import: reports stay fast); a test checks it against
    ``count_parameters(build_model(config))``. None when the config lacks a field.
    """
    try:
        c = model_config
        V, C, F = int(c["vocab_size"]), int(c["d_model"]), int(c["ffn_dim"])
        kind, norm = c.get("kind", "seq2seq"), c.get("norm", "pre")
        positions = int(c.get("max_length", 256)) * C if c.get("positional") == "learned" else 0
        final_norm = 2 * C if norm == "pre" else 0
        attention = 4 * C * C + 4 * C  # fused qkv (or q + fused kv) and the output projection
        ffn = 2 * C * F + F + C
        layer_norm = 2 * C
        encoder = positions + final_norm + int(c["encoder_layers"]) * (attention + ffn + 2 * layer_norm)
        if kind == "seq2seq":
            decoder = positions + final_norm + int(c["decoder_layers"]) * (2 * attention + ffn + 3 * layer_norm)
            embeddings = V * C if c.get("tie_embeddings", True) else 3 * V * C
            return embeddings + encoder + decoder
        head = C * int(c.get("num_classes", 2)) + int(c.get("num_classes", 2)) if kind == "classifier" else 2 * C + 2
        return V * C + encoder + head
    except (KeyError, TypeError, ValueError):
        return None


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def model_card(config: Mapping[str, Any]) -> str:
    """README.md of an export folder."""
    p, m, t = config["provenance"], config["metrics"], config["training"]
    model, tok, dec = config["model"], config["tokenizer"], config["decoding"]
    arch = {"seq2seq": "encoder-decoder", "classifier": "encoder with a classification head", "span": "encoder with a span head"}
    lines = [
        f"# {p['study']}: trial {p['trial_id']}",
        "",
        f"A {config['task']} model ({arch.get(model.get('kind'), model.get('kind'))} Transformer) "
        f"trained by tfcli in the study `{p['study']}`, exported from its best checkpoint (step {p['step']}).",
        "",
        "## Task and data",
        "",
        f"- task: {config['task']}",
        f"- data: {config['data'].get('source')} (train {_fmt(config['data'].get('train_size')) or 'all'}, "
        f"valid {_fmt(config['data'].get('valid_size')) or 'all'}, seed {config['data'].get('seed')})",
        f"- tokenizer: {tok.get('kind')}, {tok.get('vocab_size')} tokens"
        + (", lowercased" if tok.get("lowercase") else "")
        + f"; sources up to {tok.get('max_source_length')} tokens",
    ]
    if config.get("labels"):
        lines.append(f"- labels: {', '.join(config['labels'])}")
    lines += ["", f"## Metrics (validation, {m.get('examples') or '?'} examples, step {m.get('step')})", "", "| metric | value | signature |", "| --- | --- | --- |"]
    for name, value in m["values"].items():
        signature = m["signatures"].get(name, "").replace("|", "\\|")
        lines.append(f"| {name} | {_fmt(value)} | {signature} |")
    if "meteor" in m["values"]:
        from tfcli.metrics import METEOR_NOTE

        lines += ["", f"Note: {METEOR_NOTE}"]
    lines += [
        "",
        f"Decoding: beam size {dec['beam_size']}, length penalty {dec['length_penalty']}, "
        f"at most {dec['max_decode_length']} tokens.",
        "",
        "## Hyperparameters",
        "",
        "| parameter | value |",
        "| --- | --- |",
    ]
    for name, value in config["hyperparameters"].items():
        lines.append(f"| {name} (searched) | {_fmt(value, 6)} |")
    for name in ("d_model", "heads", "encoder_layers", "decoder_layers", "ffn_dim", "dropout", "positional", "norm"):
        if name in model and f"model.{name}" not in config["hyperparameters"]:
            lines.append(f"| model.{name} | {_fmt(model[name])} |")
    lines += [
        "",
        "## Training cost",
        "",
        f"- parameters: {t['parameters'] if t['parameters'] is not None else 'unknown'}",
        f"- steps: {t.get('steps')} (checkpoint at step {t.get('checkpoint_step')})",
        f"- wall time of the trial: {_duration(t.get('duration_s'))}",
        f"- device: {t.get('device')} ({t.get('precision')})",
        "",
        "## Provenance",
        "",
        f"- study: {p['study']} (id {p['study_id']})",
        f"- trial: {p['trial_id']}, MLflow run {p['run_id']}",
        f"- tracking URI: {p['tracking_uri']}",
        f"- exported: {p['exported_at']} with tfcli {p['tfcli_version']}",
        "",
        "## Use",
        "",
        "```",
        "tfcli predict THIS_FOLDER --input inputs.txt" + (" # JSONL: {\"context\": ..., \"question\": ...}" if config["task"] == "qa" else ""),
        "```",
        "",
    ]
    return "\n".join(lines)


# --- registering ---------------------------------------------------------------------------------


def serving_module_path() -> Path:
    """The file of :mod:`tfcli.serving` (not imported here: importing it registers a model)."""
    return Path(__file__).with_name("serving.py")


def _requirements() -> list[str]:
    from importlib import metadata

    pins = []
    for package in ("tfcli", "mlflow", "torch", "tokenizers", "safetensors", "sacrebleu", "pydantic", "numpy", "pandas"):
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def register_export(tracking, folder: str | Path, name: str, *, alias: str = "best"):
    """Log the export ``folder`` as an MLflow pyfunc model and register it as ``name@alias``.

    The model is "models from code": MLflow stores :mod:`tfcli.serving` as a file and the
    export folder as artifacts, and loads it by running that file, never by unpickling.
    Returns :class:`tfcli.tracking.RegisteredModel`.
    """
    from tfcli import tracking as tr

    folder = Path(folder)
    config = read_export_config(folder)
    p = config["provenance"]
    experiment_id = p.get("experiment_id")
    if not experiment_id:
        experiment_id = tr.ensure_experiment(tracking, p["study"])
    with tempfile.TemporaryDirectory(prefix="tfcli-register-") as tmp:
        # Staged under the artifact key, so the model always holds artifacts/export/.
        staged = Path(tmp) / ARTIFACT_KEY
        staged.mkdir()
        for file in EXPORT_FILES:
            if (folder / file).is_file():
                shutil.copyfile(folder / file, staged / file)
        return _log_export(tracking, staged, config, name, alias, experiment_id)


def _log_export(tracking, staged: Path, config: dict, registered_name: str, alias: str, experiment_id: str):
    from tfcli import tracking as tr

    p = config["provenance"]
    return tr.log_pyfunc_model(
        tracking,
        code_path=serving_module_path(),
        artifacts={ARTIFACT_KEY: str(staged)},
        registered_model_name=registered_name,
        experiment_id=experiment_id,
        source_run_id=p.get("run_id"),
        input_columns=INPUT_COLUMNS[config["task"]],
        params={k: v for k, v in config["hyperparameters"].items()},
        tags={
            "tfcli.study_name": p["study"],
            "tfcli.study_id": p["study_id"],
            "tfcli.trial_id": p["trial_id"],
            tr.TAG_EXPORT_TRIAL_RUN: p["run_id"],
            "tfcli.task": config["task"],
            "tfcli.step": p["step"],
        },
        pip_requirements=_requirements(),
        alias=alias,
    )


# --- loading and predicting ----------------------------------------------------------------------


def read_export_config(folder: str | Path) -> dict:
    """The ``config.json`` of an export folder; ExportError when ``folder`` is not an export."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"SOURCE must be an export folder (written by `tfcli export`) or models:/NAME@ALIAS, but {folder} is not a folder")
    missing = [name for name in (CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE) if not (folder / name).is_file()]
    if missing:
        raise ExportError(
            f"SOURCE must be an export folder with {', '.join((CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE))} "
            f"(written by `tfcli export`), but {folder} has no {', '.join(missing)}"
        )
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ExportError(f"{folder / CONFIG_FILE} must be JSON, but it does not parse ({err})") from None
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        hint = " (a training checkpoint: export it with `tfcli export`)" if found == "tfcli-checkpoint/1" else ""
        raise ExportError(f"{folder / CONFIG_FILE} must have format {EXPORT_FORMAT!r}, but got {found!r}{hint}")
    return config


def find_export_folder(root: str | Path) -> Path:
    """The export folder inside a downloaded MLflow model (``artifacts/export``), or ``root``."""
    root = Path(root)
    for candidate in (root / "artifacts" / ARTIFACT_KEY, root):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    hits = sorted(p.parent for p in root.rglob(CONFIG_FILE) if (p.parent / MODEL_FILE).is_file())
    return hits[0] if hits else root


def load_export(folder: str | Path, *, device: Optional[str] = None) -> "ExportedModel":
    """Load an export folder for prediction: JSON and safetensors only."""
    import torch

    from tfcli.data.tokenizer import SubwordTokenizer
    from tfcli.model.transformer import TransformerConfig, build_model
    from tfcli.study.spec import StudySpec
    from tfcli.train.checkpoint import load_weights
    from tfcli.train.device import Hardware, Placement, choose_placement

    folder = Path(folder)
    config = read_export_config(folder)
    spec = StudySpec.model_validate(config["study_spec"])
    tokenizer = SubwordTokenizer.load(folder / TOKENIZER_FILE)
    placement = choose_placement(device or "auto", "auto", Hardware.detect())
    trained = config.get("training") or {}
    if trained.get("device") == placement.device and trained.get("precision"):
        placement = Placement(placement.device, trained["precision"])  # as the trial evaluated
    torch.manual_seed(0)
    model = build_model(TransformerConfig.from_dict(config["model"]))
    load_weights(model, folder, device="cpu")
    model.to(placement.device).eval()
    return ExportedModel(folder=folder, config=config, spec=spec, tokenizer=tokenizer, model=model, placement=placement)


@dataclass
class ExportedModel:
    folder: Path
    config: dict
    spec: Any  # StudySpec of the trial
    tokenizer: Any
    model: Any
    placement: Any

    @property
    def task(self) -> str:
        return self.config["task"]

    @property
    def labels(self) -> Optional[list[str]]:
        return self.config.get("labels")

    def _encode(self, inputs: Sequence[Any]):
        import warnings

        from tfcli.data.encode import encode_classification, encode_qa, encode_seq2seq
        from tfcli.data.examples import ClassificationExample, QAExample, Seq2SeqExample

        d, max_length = self.spec.data, self.spec.model.max_length
        max_source, max_target = min(d.max_source_length, max_length), min(d.max_target_length, max_length)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.task in ("translation", "summarization"):
                examples = [Seq2SeqExample(source=text, target="") for text in inputs]
                return encode_seq2seq(examples, self.tokenizer, max_source, max_target, split="input", warn=False)
            if self.task == "classification":
                labels = list(self.labels or [])
                examples = [ClassificationExample(text=text, label=labels[0]) for text in inputs]
                return encode_classification(examples, self.tokenizer, max_source, labels, split="input", warn=False)
            examples = [
                QAExample(context=q["context"], question=q["question"], answers=("",), answer_starts=(0,), id=str(q.get("id", i)))
                for i, q in enumerate(inputs)
            ]
            return encode_qa(examples, self.tokenizer, max_source, split="input", warn=False)

    def predict(self, inputs: Sequence[Any], *, beam: Optional[int] = None, batch_size: Optional[int] = None) -> list[str]:
        """One prediction per input, in order. Inputs: texts, or ``{"context", "question"}`` for qa.

        Decoding and batching are those of the trial's evaluation (beam size, length penalty,
        maximum length, token budget and batch size from the exported config) unless ``beam``
        or ``batch_size`` say otherwise.
        """
        import torch

        from tfcli.data.batching import bucket_batches
        from tfcli.train.prepare import PreparedData
        from tfcli.train.tasks import runtime_for

        inputs = list(inputs)
        if not inputs:
            return []
        if beam is not None and beam < 1:
            raise ExportError(f"--beam must be at least 1, but got {beam}")
        if batch_size is not None and batch_size < 1:
            raise ExportError(f"--batch-size must be at least 1, but got {batch_size}")
        overrides = {}
        if beam is not None:
            overrides["eval.beam_size"] = beam
        if batch_size is not None:
            overrides["eval.batch_size"] = batch_size
        spec = self.spec.with_overrides(overrides) if overrides else self.spec
        encoded = self._encode(inputs)
        data = PreparedData(task=self.task, tokenizer=self.tokenizer, encoded={"input": encoded}, labels=self.labels)
        runtime = runtime_for(spec, data)
        lengths = encoded.lengths
        budget = max(spec.train.batch_tokens, max(lengths, default=1))
        predictions: list[Any] = [None] * len(inputs)
        with torch.no_grad():
            for indices in bucket_batches(lengths, budget, shuffle=False, seed=0):
                for start in range(0, len(indices), spec.eval.batch_size):
                    chunk = indices[start : start + spec.eval.batch_size]
                    batch = runtime.collate("input", chunk).to(self.placement.device)
                    with self.placement.autocast():
                        outputs = runtime.predict(self.model, batch, "input")
                    for index, prediction in zip(batch.indices, outputs):
                        predictions[index] = prediction
        return [str(p) for p in predictions]


def read_inputs(task: str, lines: Iterable[str], *, source: str = "input") -> list[Any]:
    """Inputs for :meth:`ExportedModel.predict` from lines of text (JSONL for qa).

    translation, summarization, classification: one text per line (a blank line is an empty
    input, so outputs stay aligned with input lines). qa: one JSON object per line with
    ``context`` and ``question`` (and optionally ``id``); blank lines are skipped.
    """
    items: list[Any] = []
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if task != "qa":
            items.append(text)
            continue
        if not text.strip():
            continue
        try:
            item = json.loads(text)
        except ValueError:
            raise DataError(f"{source}:{number}: qa input must be a JSON object with context and question, but the line does not parse") from None
        if not isinstance(item, dict) or not isinstance(item.get("context"), str) or not isinstance(item.get("question"), str):
            raise DataError(f"{source}:{number}: qa input must be a JSON object with string fields context and question, but got {text[:80]!r}")
        items.append(item)
    return items


def inputs_from_model_input(task: str, data: Any) -> list[Any]:
    """Inputs for :meth:`ExportedModel.predict` from what MLflow's pyfunc hands over.

    A pandas DataFrame (columns ``text``, or ``context`` and ``question`` for qa; for text
    tasks a frame's only column may have any name), a list of texts or records, a dict of
    columns, or one text.
    """
    if hasattr(data, "columns") and hasattr(data, "to_dict"):
        columns = [str(c) for c in data.columns]
        records = data.to_dict(orient="records")
        if task == "qa":
            return [{"context": str(r["context"]), "question": str(r["question"])} for r in records]
        column = "text" if "text" in columns else columns[0]
        return [str(r[column]) for r in records]
    if isinstance(data, str):
        return [data]
    if isinstance(data, Mapping):
        if task == "qa":
            contexts, questions = data["context"], data["question"]
            if isinstance(contexts, str):
                return [{"context": contexts, "question": questions}]
            return [{"context": c, "question": q} for c, q in zip(contexts, questions)]
        texts = data.get("text", next(iter(data.values())))
        return [texts] if isinstance(texts, str) else [str(t) for t in texts]
    items = list(data)
    if task == "qa":
        return [{"context": i["context"], "question": i["question"]} for i in items]
    return [i if isinstance(i, str) else str(i.get("text") if isinstance(i, Mapping) else i) for i in items]
