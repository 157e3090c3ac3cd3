"""The example types every data source produces, one per task shape.

Plain frozen dataclasses with no torch import: loading and validating data stays fast, and
the same objects come out of the built-in generators and the file readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Seq2SeqExample:
    """One translation or summarization pair: source text → target text."""

    source: str
    target: str


@dataclass(frozen=True)
class ClassificationExample:
    """One text and its label (a string; label ids are assigned at encoding time)."""

    text: str
    label: str


@dataclass(frozen=True)
class QAExample:
    """An extractive question: the answers are substrings of ``context``.

    ``answer_starts[i]`` is the character offset of ``answers[i]`` in ``context``, so
    ``context[answer_starts[i]:answer_starts[i] + len(answers[i])] == answers[i]``.
    """

    context: str
    question: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]
    id: str = ""

    def __post_init__(self) -> None:
        if len(self.answers) != len(self.answer_starts):
            raise ValueError(
                "answers and answer_starts must have the same length, but got "
                f"{len(self.answers)} and {len(self.answer_starts)}"
            )


Example = Seq2SeqExample | ClassificationExample | QAExample


@dataclass
class Splits:
    """The train, valid and test examples of one data set."""

    train: list = field(default_factory=list)
    valid: list = field(default_factory=list)
    test: list = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}

    def __iter__(self):
        """Yield ``(split_name, examples)`` for the three splits, in order."""
        yield "train", self.train
        yield "valid", self.valid
        yield "test", self.test


#: Which example type each task reads.
EXAMPLE_TYPES: dict[str, type] = {
    "translation": Seq2SeqExample,
    "summarization": Seq2SeqExample,
    "classification": ClassificationExample,
    "qa": QAExample,
}
