"""Examples shared between splits, and repeated within one: the leakage check.

An example's *input* decides (a classification text, a translation or summarization source,
a QA question with its context): a test input seen in training makes its score optimistic
whatever its label or reference. Two inputs are an *exact* match when equal, a *normalised*
match when equal only once case and runs of whitespace are set aside (:func:`normalise`).
Each held-out example is paired with the first training example it matches.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from tfcli.data.files import Located

EXACT, NORMALISED = "exact", "normalised"
KINDS = (EXACT, NORMALISED)


def normalise(text: str) -> str:
    """``text`` with its case folded and every run of whitespace one space, stripped."""
    return " ".join(text.split()).casefold()


def example_input(task: str, example) -> str:
    """The part of an example a model reads, as one string."""
    if task == "classification":
        return example.text
    if task == "qa":
        return f"{example.question}\n{example.context}"
    return example.source


class Match(NamedTuple):
    """``other`` repeats the input of ``first`` (its earlier occurrence), exactly or normalised."""

    kind: str
    other: Located
    first: Located

    def to_dict(self) -> dict:
        return {"kind": self.kind, "at": self.other.where, "first": self.first.where}


def _first_seen(task: str, items: Sequence[Located]) -> tuple[dict[str, Located], dict[str, Located]]:
    exact: dict[str, Located] = {}
    loose: dict[str, Located] = {}
    for item in items:
        text = example_input(task, item.example)
        exact.setdefault(text, item)
        loose.setdefault(normalise(text), item)
    return exact, loose


def _match(task: str, item: Located, exact: dict[str, Located], loose: dict[str, Located]) -> Match | None:
    text = example_input(task, item.example)
    if text in exact:
        return Match(EXACT, item, exact[text])
    if normalise(text) in loose:
        return Match(NORMALISED, item, loose[normalise(text)])
    return None


def leaks(task: str, train: Sequence[Located], held_out: Sequence[Located]) -> list[Match]:
    """Each example of ``held_out`` whose input a training example has, with the first such one."""
    exact, loose = _first_seen(task, train)
    found = (_match(task, item, exact, loose) for item in held_out)
    return [m for m in found if m is not None]


def duplicates(task: str, items: Sequence[Located]) -> list[Match]:
    """Each example of ``items`` whose input an earlier one of ``items`` has."""
    exact: dict[str, Located] = {}
    loose: dict[str, Located] = {}
    out = []
    for item in items:
        match = _match(task, item, exact, loose)
        if match is not None:
            out.append(match)
            continue
        text = example_input(task, item.example)
        exact[text] = item
        loose[normalise(text)] = item
    return out


def counts(matches: Sequence[Match]) -> dict[str, int]:
    """How many matches of each kind."""
    return {kind: sum(m.kind == kind for m in matches) for kind in KINDS}


__all__ = ["EXACT", "KINDS", "NORMALISED", "Match", "counts", "duplicates", "example_input", "leaks", "normalise"]
