"""Files of system outputs and references, in the shapes ``tfcli score`` reads.

One example per line, UTF-8. translation, summarization: plain text, one segment per line
(several reference files give several references; a blank line in the second or a later one
means "no reference here"). classification: JSONL labels. qa: JSONL answers and gold answers,
or an official SQuAD predictions object keyed by id. Every error is a :class:`DataError` that
names the file (and the line where there is one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

from tfcli.errors import DataError


def read_lines(path: Path, option: str) -> list[str]:
    """The lines of a UTF-8 file (a final newline ends the last line, it does not add one)."""
    if not path.exists():
        raise DataError(f"{option} file must exist, but {path} was not found")
    if path.is_dir():
        raise DataError(f"{option} must be a file, but {path} is a directory")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{option} file must be readable, but {path} is not: {err.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: files must be UTF-8, but this line is not") from None
    if not text:
        raise DataError(f"{option} file must hold one line per example, but {path} is empty")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_jsonl(path: Path, option: str, parse: Callable[[Any], Any], shape: str) -> list:
    """Parse each line of a JSONL file with ``parse``; errors name the file, line and shape."""
    values = []
    for number, line in enumerate(read_lines(path, option), start=1):
        try:
            value = parse(json.loads(line))
        except (json.JSONDecodeError, ValueError, TypeError, KeyError):
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise DataError(f"{path}:{number}: each line must be {shape}, but got {shown!r}") from None
        values.append(value)
    return values


def _label(value: Any, keys: tuple[str, ...]) -> str:
    if isinstance(value, dict):
        value = next((value[k] for k in keys if k in value), None)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(value)
    return str(value)


def _prediction(value: Any) -> str:
    if isinstance(value, dict):
        value = value["prediction"]
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _answers(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = value["answers"]
        if isinstance(value, dict):
            value = value["text"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise TypeError(value)
    texts = [item["text"] if isinstance(item, dict) else item for item in value]
    if not all(isinstance(text, str) for text in texts):
        raise TypeError(value)
    return texts


_SHAPES = {
    ("classification", "hyp"): ('a JSON string, an integer, or {"label": ...}', lambda v: _label(v, ("label", "prediction"))),
    ("classification", "ref"): ('a JSON string, an integer, or {"label": ...}', lambda v: _label(v, ("label",))),
    ("qa", "hyp"): ('a JSON string or {"prediction": "..."}', _prediction),
    ("qa", "ref"): ('a JSON list of answers, a string, or {"answers": [...]}', _answers),
}


def qa_ids(path: Path) -> Optional[list[str]]:
    """The "id" of every line of a qa --ref file, or ``None`` when some line has none."""
    ids = []
    for line in read_lines(path, "--ref"):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(value, dict) or "id" not in value:
            return None
        ids.append(str(value["id"]))
    return ids


def qa_predictions_by_id(path: Path, option: str) -> Optional[dict[str, str]]:
    """A qa --hyp file keyed by id (one {id: answer} object, or lines with an "id"), else ``None``."""
    lines = read_lines(path, option)
    try:
        values = [json.loads(line) for line in lines]
    except json.JSONDecodeError:
        try:
            values = [json.loads("\n".join(lines))]
        except json.JSONDecodeError:
            return None
    if len(values) == 1 and isinstance(values[0], dict) and "prediction" not in values[0]:
        mapping = values[0]
        if not all(isinstance(v, str) for v in mapping.values()):
            raise DataError(f"{path}: a predictions object must map each id to an answer string")
        return {str(k): v for k, v in mapping.items()}
    if values and all(isinstance(v, dict) and "id" in v for v in values):
        out = {}
        for number, value in enumerate(values, start=1):
            if not isinstance(value.get("prediction"), str):
                raise DataError(f"{path}:{number}: each line must be {{\"id\": ..., \"prediction\": \"...\"}}")
            out[str(value["id"])] = value["prediction"]
        return out
    return None


def split_sentences(line: str, sentence_sep: Optional[str]) -> str:
    """A line whose sentences are separated by ``sentence_sep``, with newlines between them."""
    return line.replace(sentence_sep, "\n") if sentence_sep else line


def read_outputs(task: str, path: Path, option: str, sentence_sep: Optional[str], ids: Optional[list[str]] = None) -> list:
    """Outputs in example order; qa outputs keyed by id follow the references' ``ids``
    (``None`` for an id with no prediction)."""
    if task == "qa" and ids is not None:
        by_id = qa_predictions_by_id(path, option)
        if by_id is not None:
            return [by_id.get(i) for i in ids]
    if (task, "hyp") in _SHAPES:
        shape, parse = _SHAPES[(task, "hyp")]
        return read_jsonl(path, option, parse, shape)
    return [split_sentences(line, sentence_sep) for line in read_lines(path, option)]


def read_references(task: str, paths: list[Path], sentence_sep: Optional[str]) -> tuple[list, list[int]]:
    """References in the form :func:`tfcli.metrics.compute_metrics` takes, and each file's
    line count (the references are empty when the counts differ)."""
    if task == "classification":
        if len(paths) != 1:
            raise DataError(f"classification takes exactly one --ref file, but got {len(paths)}")
        shape, parse = _SHAPES[(task, "ref")]
        labels = read_jsonl(paths[0], "--ref", parse, shape)
        return labels, [len(labels)]
    if task == "qa":
        shape, parse = _SHAPES[(task, "ref")]
        files = [read_jsonl(path, "--ref", parse, shape) for path in paths]
    else:
        files = [[split_sentences(line, sentence_sep) for line in read_lines(path, "--ref")] for path in paths]
    counts = [len(lines) for lines in files]
    if len(set(counts)) > 1:
        return [], counts
    if task == "qa":
        return [sum(answers, []) for answers in zip(*files)], counts
    return [[first, *(ref for ref in more if ref)] for first, *more in zip(*files)], counts


class ScoreInputs(NamedTuple):
    """What ``tfcli score`` scores: the system's outputs, the references, and a baseline's
    outputs (empty without ``--against``), all in example order."""

    predictions: list
    references: list
    baseline: list


def read_score_inputs(
    task: str, hyp: Path, refs: list[Path], against: Optional[Path] = None, sentence_sep: Optional[str] = None
) -> ScoreInputs:
    """Read every file of one ``tfcli score`` call; each must have one line per example."""
    ids = qa_ids(refs[0]) if task == "qa" and refs else None
    predictions = read_outputs(task, hyp, "--hyp", sentence_sep, ids)
    references, ref_counts = read_references(task, refs, sentence_sep)
    baseline = read_outputs(task, against, "--against", sentence_sep, ids) if against else []
    counted = [*zip(refs, ref_counts), *([(against, len(baseline))] if against else [])]
    for path, count in counted:
        if count != len(predictions):
            raise DataError(
                f"every file must have one line per example, but {path} has {count} lines and {hyp} has {len(predictions)}"
            )
    return ScoreInputs(predictions, references, baseline)
