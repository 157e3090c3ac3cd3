"""``tfcli study init``: commented study templates, one per task, that validate as written."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

from tfcli.spec.tasks import TASK_TYPES, TASKS
from tfcli.errors import StudyError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def template_text(name: str, task: str) -> str:
    if task not in TASK_TYPES:
        raise StudyError(f"--task must be one of {', '.join(TASK_TYPES)}, but got {task!r}")
    if not NAME_PATTERN.match(name):
        raise StudyError(
            f"a study name uses letters, digits, '.', '_' and '-' and starts with a letter or digit, but got {name!r}"
        )
    text = resources.files("tfcli").joinpath("templates", f"{task}.yaml").read_text(encoding="utf-8")
    return text.replace("__NAME__", name)


def template_path(name: str, directory: Path, *, force: bool = False) -> Path:
    """Where ``study init`` writes study ``name``; an existing file is refused unless ``force``."""
    path = Path(directory) / f"{name}.yaml"
    if path.exists() and not force:
        raise StudyError(f"{path} already exists; pass --force to overwrite it or choose another name")
    return path


def write_template(name: str, task: str, directory: Path, *, force: bool = False, text: Optional[str] = None) -> Path:
    """Write ``text`` (default: the built-in template of ``task``) as ``directory/NAME.yaml``."""
    text = template_text(name, task) if text is None else text
    path = template_path(name, directory, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- a template sized from the data (``tfcli study init --data``) ------------------------------


@dataclass(frozen=True)
class TemplateSizes:
    """The data-sized settings of a template, each group with the reason its comment gives
    (:func:`tfcli.data.profile_sizing.size_template` decides them)."""

    vocab_size: int
    vocab_why: str
    max_source_length: int
    max_target_length: Optional[int]  # None: the task has no target
    model_max_length: int
    length_why: str
    batch_tokens: int
    max_steps: int
    eval_every: int
    steps_why: str
    eval_why: str
    eval_max_examples: Optional[int]
    valid_examples: int
    train_examples: int
    leaks: int


_COLUMNS = {"translation": "source<TAB>target", "summarization": "source<TAB>target", "classification": "text<TAB>label", "qa": "context, question, answers"}


def _header(name: str, task: str, sizes: TemplateSizes, paths: dict[str, str]) -> list[str]:
    files = ", ".join(f"{split}: {json.dumps(path)}" for split, path in paths.items())
    carved = [s for s in ("valid", "test") if s not in paths]
    lines = [
        f"# A tfcli study: {task}, sized from its data by `tfcli study init --data`",
        f"# ({sizes.train_examples:,} training and {sizes.valid_examples:,} validation examples).",
        "#   check it:  tfcli study validate THIS_FILE;   run it:  tfcli study start THIS_FILE",
        "# Data paths are relative to this file's folder. Every key under model, train, data and eval is a",
        "# default for all trials; search.parameters searches any of them by its dotted path.",
    ]
    if sizes.leaks:
        lines.append(f"# WARNING: valid/test examples also in train: {sizes.leaks}; `tfcli data inspect` lists them.")
    lines += [
        f"name: {name}                 # the MLflow experiment name",
        "task:",
        f"  type: {task}",
        f"  data: {{{files}}}   # {_COLUMNS[task]}",
    ]
    if carved:
        lines.append(f"  # no {' and no '.join(carved)} file: 5% of train is carved off for each (data.seed)")
    return lines


def _model_train(task: str, sizes: TemplateSizes) -> list[str]:
    warmup = max(1, round(0.06 * sizes.max_steps))
    lines = [
        "model:",
        "  d_model: 128",
        "  heads: 4                     # must divide d_model",
        "  encoder_layers: 2",
    ]
    if task in ("translation", "summarization"):
        lines.append("  decoder_layers: 2")
    lines += [
        "  dropout: 0.1",
        f"  max_length: {sizes.model_max_length}              # the longest input or target below",
        "train:",
        "  lr: 5.0e-4",
        "  schedule: inverse_sqrt",
        f"  warmup_steps: {warmup}             # about 6% of max_steps",
        f"  batch_tokens: {sizes.batch_tokens}           # padded tokens per batch (at least 8 of the longest examples)",
        f"  max_steps: {sizes.max_steps}              # {sizes.steps_why}",
        f"  eval_every: {sizes.eval_every}             # {sizes.eval_why}",
        "  label_smoothing: 0.1",
        "  seed: 1",
    ]
    return lines


def _data_eval(task: str, sizes: TemplateSizes) -> list[str]:
    lines = [
        "data:",
        "  tokenizer: bpe",
        f"  vocab_size: {sizes.vocab_size}             # {sizes.vocab_why}",
        f"  max_source_length: {sizes.max_source_length}        # {sizes.length_why}; about 1% of examples are cut",
    ]
    if sizes.max_target_length is not None:
        lines.append(f"  max_target_length: {sizes.max_target_length}")
    if sizes.eval_max_examples is not None:
        lines += [
            "eval:",
            f"  max_examples: {sizes.eval_max_examples}           # of the {sizes.valid_examples:,} validation examples, "
            "during training (the whole split is scored at the end)",
        ]
    return lines


def _search(task: str, sizes: TemplateSizes) -> list[str]:
    info = TASKS[task]
    short, long = max(1, round(0.03 * sizes.max_steps)), max(1, round(0.1 * sizes.max_steps))
    lines = [
        f"objective: {{metric: {info.default_metric}, mode: {info.default_mode()}}}",
        "search:",
        "  method: tpe                  # Bayesian optimisation (Optuna's TPE): learns from finished trials",
        "  num_samples: 16",
        "  max_concurrent: 2",
        "  parameters:",
        "    # the learning rate matters most; with warmup, since a Transformer diverges without it",
        "    train.lr: {distribution: log_uniform, min: 1.0e-4, max: 2.0e-3}",
        f"    train.warmup_steps: {{values: [{short}, {long}]}}      # 3% or 10% of max_steps",
        f"    train.batch_tokens: {{values: [{sizes.batch_tokens}, {2 * sizes.batch_tokens}]}}",
        "    # depth and width: real data can use more capacity than the defaults",
        "    model.encoder_layers: {values: [2, 4]}",
    ]
    if task in ("translation", "summarization"):
        lines.append("    model.decoder_layers: {values: [2, 4]}")
    lines += [
        "    model.d_model: {values: [128, 256]}",
        "    model.heads: {values: [4, 8]}         # both divide both widths",
        "    # regularisation: real data overfits where generated sets do not",
        "    model.dropout: {distribution: uniform, min: 0.0, max: 0.3}",
        "    train.label_smoothing: {values: [0.0, 0.1]}",
        f"scheduler: {{type: asha, grace_period: {max(1, min(2 * sizes.eval_every, sizes.max_steps))}, reduction_factor: 2}}"
        "   # stop weak trials after an epoch",
        "resources: {cpu: 1, gpu: 0}    # per trial",
        "budget: {time: 4h, max_failures: 1}",
    ]
    return lines


def data_template_text(name: str, task: str, sizes: TemplateSizes, paths: dict[str, str]) -> str:
    """A study template for the data files ``paths`` (split -> path relative to the study file)."""
    template_text(name, task)  # the same checks of the name and the task
    sections = (_header(name, task, sizes, paths), _model_train(task, sizes), _data_eval(task, sizes), _search(task, sizes))
    return "\n".join(line for section in sections for line in section) + "\n"
