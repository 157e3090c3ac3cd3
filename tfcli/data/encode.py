"""Examples → token ids, per task, with counted truncation.

Plain Python lists (no tensors): :mod:`tfcli.data.batching` pads and converts per batch.
Sequences longer than the maximum length are truncated and counted; each encoder warns once
(:class:`TruncationWarning`) with the counts, never truncating silently.

Layouts (``tok`` ids: pad 0, unk 1, bos 2, eos 3, sep 4, cls 5):

* seq2seq: ``src[i]`` = source tokens (at most ``max_source_length``, no specials);
  ``tgt[i]`` = target tokens (at most ``max_target_length - 1``, no specials), so that the
  loop's ``tgt_in = [bos] + y`` and ``tgt_out = y + [eos]`` are at most ``max_target_length``.
* classification: ``ids[i]`` = ``[cls] + text`` (at most ``max_length``), ``label_ids[i]``
  indexes ``labels``.
* qa: ``ids[i]`` = ``[cls] + question + [sep] + context`` (at most ``max_length``; the
  question keeps at most half, the context is cut at the end); ``start[i]``/``end[i]`` are
  the token positions (inclusive) of the first answer, or 0/0 (the ``cls``) when truncation
  cut the answer away (``answerable[i]`` is then False).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from collections.abc import Sequence

from tfcli.data.examples import ClassificationExample, QAExample, Seq2SeqExample
from tfcli.data.tokenizer import SubwordTokenizer
from tfcli.errors import DataError


class TruncationWarning(UserWarning):
    """Some sequences were longer than the maximum length and were cut."""


def _warn(message: str) -> None:
    warnings.warn(message, TruncationWarning, stacklevel=3)


def _where(split: str | None) -> str:
    return f" {split}" if split else ""


@dataclass
class EncodedSeq2Seq:
    src: list[list[int]]
    tgt: list[list[int]]
    examples: list[Seq2SeqExample]
    max_source_length: int
    max_target_length: int
    truncated_source: int = 0
    truncated_target: int = 0
    #: examples whose source or target (or both) was cut
    truncated: int = 0

    def __len__(self) -> int:
        return len(self.src)

    @property
    def lengths(self) -> list[int]:
        """Per example, the longer of the source and the target with its bos/eos."""
        return [max(len(s), len(t) + 1) for s, t in zip(self.src, self.tgt)]

    @property
    def side_lengths(self) -> list[tuple[int, int]]:
        """Per example, (source length, target length with its bos/eos): the within-bucket order."""
        return [(len(s), len(t) + 1) for s, t in zip(self.src, self.tgt)]


@dataclass
class EncodedClassification:
    ids: list[list[int]]
    label_ids: list[int]
    labels: list[str]
    examples: list[ClassificationExample]
    max_length: int
    truncated: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> list[int]:
        return [len(x) for x in self.ids]

    @property
    def num_labels(self) -> int:
        return len(self.labels)


@dataclass
class EncodedQA:
    ids: list[list[int]]
    start: list[int]
    end: list[int]
    context_start: list[int]
    offsets: list[list[tuple[int, int]]]
    answerable: list[bool]
    examples: list[QAExample]
    max_length: int
    truncated: int = 0
    answer_truncated: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> list[int]:
        return [len(x) for x in self.ids]

    def context_range(self, i: int) -> tuple[int, int]:
        """Token positions ``[first, stop)`` of example ``i``'s context in ``ids[i]``."""
        first = self.context_start[i]
        return first, first + len(self.offsets[i])

    def span_text(self, i: int, start: int, end: int) -> str:
        """The context substring that token positions ``start..end`` (inclusive) cover.

        Empty when the span is not inside the context (e.g. a prediction of the ``cls``).
        """
        first, stop = self.context_range(i)
        if not (first <= start <= end < stop):
            return ""
        offs = self.offsets[i]
        return self.examples[i].context[offs[start - first][0] : offs[end - first][1]].strip()


def _check_length(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}, but got {value!r}")


def encode_seq2seq(
    examples: Sequence[Seq2SeqExample],
    tok: SubwordTokenizer,
    max_source_length: int,
    max_target_length: int,
    *,
    split: str | None = None,
    warn: bool = True,
) -> EncodedSeq2Seq:
    """Encode translation/summarization pairs; see the module docstring for the layout."""
    _check_length("max_source_length", max_source_length, 1)
    _check_length("max_target_length", max_target_length, 2)
    src_all = tok.encode_batch([e.source for e in examples])
    tgt_all = tok.encode_batch([e.target for e in examples])
    tgt_max = max_target_length - 1
    cut_src = sum(len(s) > max_source_length for s in src_all)
    cut_tgt = sum(len(t) > tgt_max for t in tgt_all)
    cut_any = sum(len(s) > max_source_length or len(t) > tgt_max for s, t in zip(src_all, tgt_all))
    enc = EncodedSeq2Seq(
        src=[s[:max_source_length] or [tok.unk_id] for s in src_all],  # never empty
        tgt=[t[:tgt_max] for t in tgt_all],
        examples=list(examples),
        max_source_length=max_source_length,
        max_target_length=max_target_length,
        truncated_source=cut_src,
        truncated_target=cut_tgt,
        truncated=cut_any,
    )
    if warn and cut_any:
        _warn(
            f"truncated {cut_any} of {len(enc)}{_where(split)} examples: {cut_src} sources longer "
            f"than max_source_length={max_source_length} tokens, {cut_tgt} targets longer than "
            f"max_target_length={max_target_length} tokens (with eos)"
        )
    return enc


def encode_classification(
    examples: Sequence[ClassificationExample],
    tok: SubwordTokenizer,
    max_length: int,
    labels: Sequence[str] | None = None,
    *,
    split: str | None = None,
    warn: bool = True,
) -> EncodedClassification:
    """Encode texts as ``[cls] + text`` and labels as indices into ``labels``.

    ``labels`` is the label vocabulary; when None it is built (sorted) from ``examples``, so
    pass the training examples first and reuse ``result.labels`` for valid and test. A label
    outside a given vocabulary is a DataError.
    """
    _check_length("max_length", max_length, 2)
    if labels is None:
        labels = sorted({e.label for e in examples})
    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    unseen = sorted({e.label for e in examples} - set(index))
    if unseen:
        raise DataError(
            f"the{_where(split)} labels must be among the training labels "
            f"({', '.join(labels)}), but got {', '.join(repr(u) for u in unseen)}"
        )
    texts = tok.encode_batch([e.text for e in examples])
    budget = max_length - 1
    cut = sum(len(t) > budget for t in texts)
    enc = EncodedClassification(
        ids=[[tok.cls_id] + t[:budget] for t in texts],
        label_ids=[index[e.label] for e in examples],
        labels=labels,
        examples=list(examples),
        max_length=max_length,
        truncated=cut,
    )
    if warn and cut:
        _warn(
            f"truncated {cut} of {len(enc)}{_where(split)} texts longer than "
            f"max_length={max_length} tokens (with cls)"
        )
    return enc


def _answer_tokens(
    offsets: list[tuple[int, int]], a_start: int, a_end: int
) -> tuple[int, int] | None:
    """Indices (inclusive) of the kept context tokens covering chars [a_start, a_end)."""
    first = last = None
    for j, (s, e) in enumerate(offsets):
        if e <= s:  # a lone ▁, covers no visible character
            continue
        if e > a_start and s < a_end:
            if first is None:
                first = j
            last = j
        elif s >= a_end:
            break
    if first is None:
        return None
    # the whole answer must be inside the kept tokens
    if offsets[last][1] < a_end and last == len(offsets) - 1:
        return None
    return first, last


def encode_qa(
    examples: Sequence[QAExample],
    tok: SubwordTokenizer,
    max_length: int,
    *,
    split: str | None = None,
    warn: bool = True,
) -> EncodedQA:
    """Encode ``[cls] question [sep] context`` with the first answer's token span."""
    _check_length("max_length", max_length, 8)
    questions = tok.encode_batch([e.question for e in examples])
    contexts = tok.encode_batch_with_offsets([e.context for e in examples])
    max_q = max_length // 2
    out = EncodedQA([], [], [], [], [], [], list(examples), max_length)
    cut_q = cut_c = cut_any = 0
    for ex, q, (c_ids, c_offs) in zip(examples, questions, contexts):
        cut = False
        if len(q) > max_q:
            q, cut = q[:max_q], True
            cut_q += 1
        budget = max_length - 2 - len(q)
        if len(c_ids) > budget:
            c_ids, c_offs, cut = c_ids[:budget], c_offs[:budget], True
            cut_c += 1
        cut_any += cut
        first = len(q) + 2
        a_start = ex.answer_starts[0]
        span = _answer_tokens(c_offs, a_start, a_start + len(ex.answers[0]))
        out.ids.append([tok.cls_id] + q + [tok.sep_id] + c_ids)
        out.context_start.append(first)
        out.offsets.append(c_offs)
        out.answerable.append(span is not None)
        out.start.append(first + span[0] if span else 0)
        out.end.append(first + span[1] if span else 0)
    out.truncated = cut_any
    out.answer_truncated = out.answerable.count(False)
    if warn and out.truncated:
        _warn(
            f"truncated {out.truncated} of {len(out)}{_where(split)} examples longer than "
            f"max_length={max_length} tokens ({cut_q} questions, {cut_c} contexts); "
            f"{out.answer_truncated} lost their answer and point at the cls token"
        )
    return out


__all__ = [
    "EncodedClassification",
    "EncodedQA",
    "EncodedSeq2Seq",
    "TruncationWarning",
    "encode_classification",
    "encode_qa",
    "encode_seq2seq",
]
