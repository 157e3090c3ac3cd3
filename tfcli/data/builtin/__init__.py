"""Built-in generated data sets, one or two per task, and :func:`load_data`.

Every set is generated from rules, deterministically by seed, and built to be learnable by a
small Transformer on a laptop CPU in minutes while leaving room between a weak and a good model:

* ``dates`` (translation): a date written in one of many surface forms, in words or digits
  (``the third of march nineteen ninety-four``, ``March 3rd, 1994``, ``03.03.1994``) → its
  ISO form as separate tokens, ``1994 - 03 - 03``. Copying the source scores nothing.
* ``toylang`` (translation): English-like sentences → an artificial language with SOV word
  order, postpositions, adjectives after the noun (mirrored) and agreement of adjectives
  (gender, number) and verbs (subject gender/number, tense).
* ``headlines`` (summarization): a paragraph with one key event among distractor sentences
  (past events, plans, quotes) → a headline naming who did what, how many, where, with the
  verb in the headline present tense and a person named by role and surname.
* ``sentiment`` (classification, labels ``negative``/``mixed``/``positive``): clauses with
  negation, idioms (``could not have been better``) and contrast (``X, but Y``; ``although X, Y``),
  so the label depends on word order and scope, not on the bag of words.
* ``facts`` (qa): a paragraph about two to four people (birthplace, home, birth year, job,
  employer), with one question about one of them; the answer is a span of the paragraph.

Splits are generated test first, then valid, then train, each from its own random stream,
and no example (same source/text/question and context) appears in two splits. The test and
valid sets for a seed therefore do not change when ``train_size`` changes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable

from tfcli.data.builtin.dates import make_date
from tfcli.data.builtin.facts import make_fact
from tfcli.data.builtin.headlines import make_headline
from tfcli.data.builtin.sentiment import SENTIMENT_LABELS, make_sentiment
from tfcli.data.builtin.splits import generate_splits
from tfcli.data.builtin.toylang import make_toylang
from tfcli.data.examples import QAExample, Splits
from tfcli.data.files import load_files
from tfcli.spec.tasks import TASK_TYPES, TASKS
from tfcli.errors import DataError

#: builtin set name → task type (from the task metadata in :mod:`tfcli.spec.tasks`).
BUILTIN_TASKS: dict[str, str] = {
    name: task for task, info in TASKS.items() for name in info.builtin_sets
}

#: (train, valid, test) sizes used when a size is not given. Each trains in minutes on 2 CPU
#: cores with a small model.
DEFAULT_SIZES: dict[str, tuple[int, int, int]] = {
    "dates": (6000, 500, 500),
    "toylang": (8000, 500, 500),
    "headlines": (4000, 300, 300),
    "sentiment": (6000, 500, 500),
    "facts": (5000, 400, 400),
}


_MAKERS: dict[str, tuple[Callable[[random.Random], object], Callable[[object], Hashable]]] = {
    "dates": (make_date, lambda e: e.source),
    "toylang": (make_toylang, lambda e: e.source),
    "headlines": (make_headline, lambda e: e.source),
    "sentiment": (make_sentiment, lambda e: e.text),
    "facts": (make_fact, lambda e: (e.context, e.question)),
}
assert set(_MAKERS) == set(BUILTIN_TASKS) == set(DEFAULT_SIZES)


def _check_size(what: str, value: int | None, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(f"{what} must be a positive integer, but got {value!r}")
    return value


def load_builtin(
    name: str,
    *,
    train_size: int | None = None,
    valid_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> Splits:
    """Generate the built-in set ``name``; sizes default to :data:`DEFAULT_SIZES`.

    Deterministic by ``seed``; the valid and test sets do not depend on ``train_size``.
    """
    if name.startswith("builtin:"):
        name = name[len("builtin:"):]
    if name not in _MAKERS:
        raise DataError(
            f"unknown builtin data set, expected one of {', '.join(sorted(_MAKERS))}, "
            f"but got {name!r}"
        )
    d_train, d_valid, d_test = DEFAULT_SIZES[name]
    sizes = (
        _check_size("train_size", train_size, d_train),
        _check_size("valid_size", valid_size, d_valid),
        _check_size("test_size", test_size, d_test),
    )
    make, key = _MAKERS[name]
    splits = generate_splits(name, make, key, sizes, seed)
    if name == "facts":
        for split, examples in splits:
            for j, ex in enumerate(examples):
                examples[j] = QAExample(ex.context, ex.question, ex.answers, ex.answer_starts,
                                        id=f"facts-{split}-{j}")
    return splits


_FILE_KEYS = ("train", "valid", "test", "format", "columns")


def load_data(
    task: str,
    source: str | dict,
    *,
    train_size: int | None = None,
    valid_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
    max_line_length: int | None = None,
) -> Splits:
    """Load a task's data from ``"builtin:NAME"`` or from files.

    ``source`` is either ``"builtin:NAME"`` (a set made for ``task``) or a mapping with
    ``train`` and optionally ``valid``, ``test``, ``format`` and ``columns`` (see
    :func:`tfcli.data.files.load_files`). With files, a size caps that split at its first
    ``size`` examples (after any valid/test carving), and ``max_line_length`` (when given) is
    the longest line a file may hold.
    """
    if task not in TASK_TYPES:
        raise DataError(f"task must be one of {', '.join(TASK_TYPES)}, but got {task!r}")
    if isinstance(source, str):
        return load_builtin(
            _builtin_name(task, source),
            train_size=train_size, valid_size=valid_size, test_size=test_size, seed=seed,
        )
    _check_file_source(source)
    splits = _load_file_source(task, source, seed, max_line_length)
    return _cap_sizes(splits, train=train_size, valid=valid_size, test=test_size)


def _builtin_name(task: str, source: str) -> str:
    """The set named by ``"builtin:NAME"``, refusing a known set made for another task."""
    if not source.startswith("builtin:"):
        raise DataError(
            "data must be 'builtin:NAME' or a mapping with train/valid/test file paths, "
            f"but got {source!r}"
        )
    name = source[len("builtin:"):]
    if name in BUILTIN_TASKS and BUILTIN_TASKS[name] != task:
        fits = ", ".join(f"builtin:{n}" for n in TASKS[task].builtin_sets)
        raise DataError(
            f"builtin:{name} is a {BUILTIN_TASKS[name]} data set and cannot be used for "
            f"task {task!r}; use one of {fits}"
        )
    return name


def _check_file_source(source) -> None:
    """Refuse a ``source`` that is not a mapping of known file keys with a train path."""
    if not isinstance(source, dict):
        raise DataError(
            "data must be 'builtin:NAME' or a mapping with train/valid/test file paths, "
            f"but got {source!r}"
        )
    unknown = sorted(set(source) - set(_FILE_KEYS))
    if unknown:
        raise DataError(
            f"data files take the keys {', '.join(_FILE_KEYS)}, but got {', '.join(map(str, unknown))}"
        )
    if not source.get("train"):
        raise DataError(f"data files need a 'train' path, but got {source!r}")


def _cap_sizes(splits: Splits, **sizes: int | None) -> Splits:
    """Cut each split given a size (train, valid, test) to its first ``size`` examples, in place."""
    for split, size in sizes.items():
        if size is not None:
            size = _check_size(f"{split}_size", size, 0)
            setattr(splits, split, getattr(splits, split)[:size])
    return splits


def _load_file_source(task: str, source: dict, seed: int, max_line_length: int | None) -> Splits:
    limit = {"max_line_length": max_line_length} if max_line_length is not None else {}
    return load_files(
        task,
        train=str(source["train"]),
        valid=str(source["valid"]) if source.get("valid") else None,
        test=str(source["test"]) if source.get("test") else None,
        format=source.get("format"),
        columns=source.get("columns"),
        seed=seed,
        **limit,
    )


__all__ = [
    "BUILTIN_TASKS",
    "DEFAULT_SIZES",
    "SENTIMENT_LABELS",
    "load_builtin",
    "load_data",
]
