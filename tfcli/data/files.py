"""User data from local files: TSV, JSONL and CSV.

What each task reads (``columns`` renames the fields for CSV headers and JSONL keys):

==============  ===========================  ==========================================
task            TSV (no header)              JSONL keys / CSV columns
==============  ===========================  ==========================================
translation,    ``source<TAB>target``        ``source``, ``target``
summarization
classification  ``text<TAB>label``           ``text``, ``label``
qa              (not supported)              ``context``, ``question``, ``answers``
                                             (JSONL: a string, a list of strings, a list
                                             of ``{"text", "answer_start"}``, or SQuAD's
                                             ``{"text": [...], "answer_start": [...]}``;
                                             CSV: one answer per row, with an optional
                                             ``answer_start`` column); optional ``id``
==============  ===========================  ==========================================

Every problem a user can cause is a :class:`~tfcli.errors.DataError` that names the file and,
for a bad record, its line: ``train.tsv:17: expected 2 tab-separated fields, got 3``.
Files are read as UTF-8 (a byte order mark is allowed).

Blank lines (nothing, or only spaces) are skipped. A line with a field separator (a tab in
TSV, a comma in CSV) is a record, not a blank line: a field of only spaces in it is refused as
empty, as it is in JSONL. A line longer than ``data.max_line_length`` characters (default
100,000), or a CSV field longer than that, is refused before it is parsed.
"""

from __future__ import annotations

import csv
import io
import json
import random
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from tfcli.data.examples import ClassificationExample, QAExample, Seq2SeqExample, Splits
from tfcli.spec.schema import DEFAULT_MAX_LINE_LENGTH
from tfcli.spec.tasks import TASK_TYPES
from tfcli.errors import DataError

FORMATS = ("tsv", "jsonl", "csv")
_SUFFIXES = {".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}

#: The fields each task reads, in TSV column order; QA also reads ``answer_start`` and ``id``.
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "translation": ("source", "target"),
    "summarization": ("source", "target"),
    "classification": ("text", "label"),
    "qa": ("context", "question", "answers"),
}
_OPTIONAL_FIELDS = {"qa": ("answer_start", "id")}

#: Share of the train file carved off for each missing valid/test split (at least 1 example).
CARVE_FRACTION = 0.05


def infer_format(path: str) -> str:
    """The format of ``path`` from its suffix (``.tsv``/``.txt``, ``.jsonl``/``.ndjson``, ``.csv``)."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(
            f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}; "
            f"name the format, one of {', '.join(FORMATS)}"
        )
    return _SUFFIXES[suffix]


def _read_text(path: str) -> str:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file")
    if not p.is_file():
        raise DataError(f"{path}: not a file")
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text ({err.reason} at column {column}); save the file as UTF-8") from None


class _Record:
    """Turns one record's fields into an example, raising errors located at ``where``."""

    def __init__(self, task: str, where: str):
        self.task = task
        self.where = where

    def fail(self, message: str) -> DataError:
        return DataError(f"{self.where}: {message}")

    def text(self, value, field: str, column: str) -> str:
        if value is None:
            raise self.fail(f"missing {field!r}" + (f" (column {column!r})" if column != field else ""))
        if not isinstance(value, str):
            raise self.fail(f"{field} must be a string, but got {type(value).__name__} {value!r}")
        if not value.strip():
            raise self.fail(f"empty {field}" + (" (only spaces)" if value else ""))
        return value

    def label(self, value, column: str) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        return self.text(value, "label", column)

    def example(self, values: dict, columns: dict[str, str]):
        if self.task in ("translation", "summarization"):
            return Seq2SeqExample(
                source=self.text(values.get("source"), "source", columns["source"]),
                target=self.text(values.get("target"), "target", columns["target"]),
            )
        if self.task == "classification":
            return ClassificationExample(
                text=self.text(values.get("text"), "text", columns["text"]),
                label=self.label(values.get("label"), columns["label"]),
            )
        return self.qa(values, columns)

    def qa(self, values: dict, columns: dict[str, str]) -> QAExample:
        context = self.text(values.get("context"), "context", columns["context"])
        question = self.text(values.get("question"), "question", columns["question"])
        raw = values.get("answers")
        if raw is None:
            raise self.fail(f"missing 'answers' (column {columns['answers']!r})")
        items = self.answer_items(raw, values.get("answer_start"))
        if not items:
            raise self.fail("a question needs at least one answer, but answers is empty")
        answers: list[str] = []
        starts_out: list[int] = []
        for text, start in items:
            if not isinstance(text, str) or not text:
                raise self.fail(f"an answer must be a non-empty string, but got {text!r}")
            answers.append(text)
            starts_out.append(self.answer_position(context, text, start))
        ident = values.get("id")
        return QAExample(
            context=context,
            question=question,
            answers=tuple(answers),
            answer_starts=tuple(starts_out),
            id=str(ident) if ident is not None else self.where,
        )

    def answer_items(self, raw, starts_given) -> list[tuple[object, object]]:
        """``(text, answer_start)`` pairs, unchecked, from any accepted form of ``answers``."""
        if isinstance(raw, str):
            return [(raw, starts_given)]
        if isinstance(raw, dict) and "text" in raw:  # SQuAD: {"text": [...], "answer_start": [...]}
            texts, starts = raw.get("text"), raw.get("answer_start")
            if not isinstance(texts, list):
                texts = [texts]
            if starts is None:
                starts = [None] * len(texts)
            elif not isinstance(starts, list):
                starts = [starts]
            if len(starts) != len(texts):
                raise self.fail("answers.text and answers.answer_start differ in length")
            return list(zip(texts, starts))
        if isinstance(raw, list):
            items: list[tuple[object, object]] = []
            for item in raw:
                if isinstance(item, dict):
                    items.append((item.get("text"), item.get("answer_start")))
                else:
                    items.append((item, None))
            return items
        raise self.fail(
            "answers must be a string, a list of strings or of {text, answer_start}, "
            f"but got {type(raw).__name__}"
        )

    def answer_position(self, context: str, text: str, start) -> int:
        """Where answer ``text`` starts in ``context``: at ``start`` if given, else its first occurrence."""
        if start is None or start == "":
            pos = context.find(text)
            if pos < 0:
                raise self.fail(f"answer {text!r} not found in its context")
            return pos
        try:
            pos = int(start)
        except (TypeError, ValueError):
            raise self.fail(f"answer_start must be an integer, but got {start!r}") from None
        if context[pos : pos + len(text)] != text or pos < 0:
            found = context[max(pos, 0) : max(pos, 0) + len(text)]
            raise self.fail(
                f"answer {text!r} not found in its context at answer_start={pos} "
                f"(the context there reads {found!r})"
            )
        return pos


def _columns(task: str, fmt: str, columns: dict[str, str] | None, path: str) -> dict[str, str]:
    fields = TASK_FIELDS[task] + _OPTIONAL_FIELDS.get(task, ())
    mapping = {f: f for f in fields}
    if columns:
        if fmt == "tsv":
            raise DataError(
                f"{path}: columns apply to csv and jsonl files; a tsv file has the fields "
                f"{'<TAB>'.join(TASK_FIELDS[task])} in that order"
            )
        if not isinstance(columns, dict):
            raise DataError(f"columns must map field names to column names, but got {columns!r}")
        unknown = sorted(set(columns) - set(fields))
        if unknown:
            raise DataError(
                f"columns for task {task} may name {', '.join(fields)}, but got {', '.join(unknown)}"
            )
        mapping.update({k: str(v) for k, v in columns.items()})
    return mapping


def _read_tsv(task: str, path: str, text: str) -> list:
    if task == "qa":
        raise DataError(f"{path}: qa data cannot be read from tsv; use jsonl or csv")
    fields = TASK_FIELDS[task]
    out = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() and "\t" not in line:
            continue
        parts = line.split("\t")
        rec = _Record(task, f"{path}:{lineno}")
        if len(parts) != len(fields):
            raise rec.fail(f"expected {len(fields)} tab-separated fields, got {len(parts)}")
        out.append((lineno, rec.example(dict(zip(fields, parts)), {f: f for f in fields})))
    return out


def _read_jsonl(task: str, path: str, text: str, columns: dict[str, str]) -> list:
    out = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        rec = _Record(task, f"{path}:{lineno}")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise rec.fail(f"invalid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(obj, dict):
            raise rec.fail(f"expected a JSON object, got {type(obj).__name__}")
        values = {field: obj.get(col) for field, col in columns.items()}
        if task != "qa":
            for field in TASK_FIELDS[task]:
                if columns[field] not in obj:
                    raise rec.fail(f"missing key {columns[field]!r}")
        out.append((lineno, rec.example(values, columns)))
    return out


@contextmanager
def _csv_fields_up_to(length: int):
    """Lift the csv module's own field limit (131,072) while a file is read, so that a long
    field meets ``data.max_line_length``'s error, and put it back after."""
    previous = csv.field_size_limit(max(csv.field_size_limit(), length))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _read_csv(task: str, path: str, text: str, columns: dict[str, str], max_line_length: int) -> list:
    with _csv_fields_up_to(len(text) + 1):
        return _csv_records(task, path, text, columns, max_line_length)


def _csv_records(task: str, path: str, text: str, columns: dict[str, str], max_line_length: int) -> list:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as err:
        raise DataError(f"{path}:1: {err}") from None
    header = [h.strip() for h in header]
    required = [columns[f] for f in TASK_FIELDS[task]]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(
            f"{path}:1: the header row must name the columns {', '.join(required)}, but "
            f"{', '.join(repr(m) for m in missing)} not in {header} (map fields to columns "
            "with columns: {field: column})"
        )
    index = {field: header.index(col) for field, col in columns.items() if col in header}
    out = []
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise DataError(f"{path}:{reader.line_num}: {err}") from None
        if len(row) <= 1 and not "".join(row).strip():
            continue
        rec = _Record(task, f"{path}:{reader.line_num}")
        if len(row) != len(header):
            raise rec.fail(f"expected {len(header)} comma-separated fields, got {len(row)}")
        longest = max(map(len, row))
        if longest > max_line_length:
            raise rec.fail(f"a field of {longest:,} characters{_OVER_LIMIT.format(limit=max_line_length)}")
        values = {field: row[i] for field, i in index.items()}
        out.append((first_line, rec.example(values, columns)))
    return out


def _refuse_long_line(path: str, text: str, max_line_length: int) -> None:
    """Refuse the first line of ``text`` longer than ``max_line_length`` characters, in linear time."""
    if len(text) <= max_line_length:
        return
    lines = text.split("\n")
    if max(map(len, lines)) <= max_line_length:
        return
    for lineno, line in enumerate(lines, start=1):
        length = len(line.rstrip("\r"))
        if length > max_line_length:
            raise DataError(f"{path}:{lineno}: a line of {length:,} characters{_OVER_LIMIT.format(limit=max_line_length)}")


_OVER_LIMIT = (
    " is longer than data.max_line_length ({limit:,}); shorten or remove it, "
    "or raise data.max_line_length in the study file"
)


class Located(NamedTuple):
    """An example and where its record starts: ``file:line``."""

    file: str
    line: int
    example: object

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def read_located(
    task: str,
    path: str,
    *,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
) -> list[Located]:
    """Read one data file of ``task``, each example with the line its record starts on; an
    empty file, an over-long line or a bad record is a DataError."""
    if task not in TASK_TYPES:
        raise DataError(f"task must be one of {', '.join(TASK_TYPES)}, but got {task!r}")
    path = str(path)
    fmt = format.lower() if format else infer_format(path)
    if fmt not in FORMATS:
        raise DataError(f"format must be one of {', '.join(FORMATS)}, but got {format!r}")
    mapping = _columns(task, fmt, columns, path)
    text = _read_text(path)
    _refuse_long_line(path, text, max_line_length)
    if fmt == "tsv":
        records = _read_tsv(task, path, text)
    elif fmt == "jsonl":
        records = _read_jsonl(task, path, text, mapping)
    else:
        records = _read_csv(task, path, text, mapping, max_line_length)
    if not records:
        raise DataError(f"{path}: no examples (the file is empty)")
    return [Located(path, line, example) for line, example in records]


def read_file(
    task: str,
    path: str,
    *,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
) -> list:
    """Read one data file of ``task``; an empty file, an over-long line or a bad record is a DataError."""
    located = read_located(task, path, format=format, columns=columns, max_line_length=max_line_length)
    return [item.example for item in located]


def read_lines(path: str) -> list[str]:
    """The lines of a data file as the readers see them (UTF-8, a byte order mark allowed), without
    their line ends; a missing or unreadable file, or one that is not UTF-8, is a DataError."""
    return [line.rstrip("\r") for line in _read_text(str(path)).split("\n")]


def carve(examples: list, n_splits: int, *, seed: int) -> tuple[list, list[list]]:
    """Split ``n_splits`` held-out sets of ``CARVE_FRACTION`` (at least 1 each) off ``examples``.

    Deterministic by ``seed``; the remaining examples and each carved set keep file order.
    """
    n = len(examples)
    k = max(1, round(CARVE_FRACTION * n))
    if n - k * n_splits < 1:
        raise ValueError(f"{n} examples are too few to carve {n_splits} sets of {k}")
    order = list(range(n))
    random.Random(f"tfcli-carve:{seed}").shuffle(order)
    held = [sorted(order[i * k : (i + 1) * k]) for i in range(n_splits)]
    taken = {i for h in held for i in h}
    rest = [ex for i, ex in enumerate(examples) if i not in taken]
    return rest, [[examples[i] for i in h] for h in held]


def load_located(
    task: str,
    *,
    train: str,
    valid: str | None = None,
    test: str | None = None,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    seed: int = 0,
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
) -> dict[str, list[Located]]:
    """The train, valid and test examples of ``task``, each with its file and line, as
    :func:`load_files` splits them (a missing valid or test file carved from train)."""
    options = {"format": format, "columns": columns, "max_line_length": max_line_length}
    train_ex = read_located(task, train, **options)
    valid_ex = read_located(task, valid, **options) if valid else None
    test_ex = read_located(task, test, **options) if test else None
    missing = [name for name, ex in (("valid", valid_ex), ("test", test_ex)) if ex is None]
    if missing:
        try:
            train_ex, carved = carve(train_ex, len(missing), seed=seed)
        except ValueError:
            raise DataError(
                f"{train}: {len(train_ex)} examples are too few to carve a "
                f"{' and a '.join(missing)} set from; give {' and '.join(missing)} files"
            ) from None
        held = dict(zip(missing, carved))
        valid_ex = held.get("valid", valid_ex)
        test_ex = held.get("test", test_ex)
    return {"train": train_ex, "valid": valid_ex, "test": test_ex}


def load_files(
    task: str,
    *,
    train: str,
    valid: str | None = None,
    test: str | None = None,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    seed: int = 0,
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
) -> Splits:
    """Read the train, valid and test files of ``task``.

    ``format`` (``tsv``, ``jsonl`` or ``csv``) applies to every file; when None, each file's
    format comes from its suffix. ``columns`` maps the task's fields to CSV header names or
    JSONL keys, e.g. ``{"source": "de", "target": "en"}``. A line (or CSV field) longer than
    ``max_line_length`` characters is refused.

    A missing ``valid`` or ``test`` file is carved from the train file: 5% of its examples
    (at least one) for each missing split, chosen deterministically by ``seed``, and taken
    out of the training examples.
    """
    located = load_located(
        task, train=train, valid=valid, test=test, format=format, columns=columns, seed=seed,
        max_line_length=max_line_length,
    )
    return Splits(**{split: [item.example for item in items] for split, items in located.items()})


__all__ = [
    "FORMATS", "TASK_FIELDS", "Located", "carve", "infer_format", "load_files", "load_located", "read_file",
    "read_located", "read_lines",
]
