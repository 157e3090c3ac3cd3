"""A study template's settings sized from its data (``tfcli study init --data``), each with
the reason the template's comment gives.

* vocabulary: about ``8·sqrt(words)`` of the training texts, at most their distinct words,
  within [:data:`MIN_VOCAB`, :data:`MAX_VOCAB`] (a few thousand for tens of thousands of
  sentences: enough for frequent words whole, rare ones in pieces);
* maximum lengths: the p99 token lengths under that vocabulary, plus the special tokens the
  encoders add, rounded up to a multiple of 8, so about 1% of examples are cut;
* steps: :data:`EPOCHS` epochs of the training examples at ``train.batch_tokens`` padded
  tokens per batch (a typical example: its p50 length); an evaluation every half epoch
  (at most :data:`MAX_EVALUATIONS` in all);
* validation during training: at most :data:`EVAL_EXAMPLES` examples (the whole split is
  still scored at the end).
"""

from __future__ import annotations

import math

from tfcli.data.inputs import tokenizer_texts
from tfcli.data.profile import DataRead, profile_data
from tfcli.spec.schema import DataSpec, ModelSpec, TrainSpec
from tfcli.spec.templates import TemplateSizes

MIN_VOCAB, MAX_VOCAB = 256, 32000
EPOCHS = 5
MIN_STEPS, MAX_STEPS = 200, 50_000
EVAL_EXAMPLES = 2000
MAX_EVALUATIONS = 20


def _round_up(value: int, multiple: int) -> int:
    return max(multiple, math.ceil(value / multiple) * multiple)


def vocabulary(texts: list[str]) -> tuple[int, str]:
    """The vocabulary size for ``texts`` (the tokenizer's training texts), and why."""
    words = [w for t in texts for w in t.split()]
    distinct = len(set(words))
    size = min(round(8 * math.sqrt(len(words)) / 100) * 100, _round_up(distinct, 100))
    size = max(MIN_VOCAB, min(MAX_VOCAB, size))
    return size, f"about 8*sqrt(words) for {len(words):,} training words ({distinct:,} distinct), within [{MIN_VOCAB}, {MAX_VOCAB:,}]"


def _lengths(task: str, p99: dict[str, int]) -> tuple[int, int | None, str]:
    """max_source_length, max_target_length (None: the task has no target) from p99 token lengths."""
    if task == "classification":
        return _round_up(p99["text"] + 1, 8), None, f"p99 of the texts is {p99['text']} tokens, +1 for <cls>"
    if task == "qa":
        total = p99["question"] + p99["context"] + 2
        return _round_up(total, 8), None, f"p99 question {p99['question']} + context {p99['context']} tokens, +2 for <cls> and <sep>"
    why = f"p99 of the sources is {p99['source']} tokens, of the targets {p99['target']} (+1 for </s>)"
    return _round_up(p99["source"], 8), _round_up(p99["target"] + 1, 8), why


def _typical(task: str, p50: dict[str, int]) -> int:
    """The padded tokens of a typical example in a batch: what the batcher counts (the longer of
    source and target for seq2seq, the whole input otherwise) with its special tokens."""
    if task in ("translation", "summarization"):
        return max(p50.values()) + 1
    return sum(p50.values()) + (2 if task == "qa" else 1)


def size_template(read: DataRead) -> TemplateSizes:
    """The template settings for the data ``read``, from its profile under the sized vocabulary."""
    vocab, vocab_why = vocabulary(tokenizer_texts(read.task, [i.example for i in read.splits["train"]]))
    data = DataSpec(vocab_size=vocab)
    profile = profile_data(read, data, ModelSpec().max_length)
    train = profile.splits["train"]
    source, target, length_why = _lengths(read.task, {f: s["p99"] for f, s in train.tokens.items()})
    longest = max(source, target or 0)
    batch_tokens = max(TrainSpec().batch_tokens, _round_up(8 * longest, 512))
    typical = _typical(read.task, {f: s["p50"] for f, s in train.tokens.items()})
    per_epoch = math.ceil(train.examples / max(batch_tokens // typical, 1))
    steps = max(MIN_STEPS, min(MAX_STEPS, EPOCHS * per_epoch))
    valid = profile.splits["valid"].examples
    return TemplateSizes(
        vocab_size=vocab, vocab_why=vocab_why,
        max_source_length=source, max_target_length=target, model_max_length=_round_up(longest, 8), length_why=length_why,
        batch_tokens=batch_tokens, max_steps=steps, eval_every=min(steps, max(per_epoch // 2, steps // MAX_EVALUATIONS, 1)),
        steps_why=(
            f"{EPOCHS} epochs of {train.examples:,} examples, about {batch_tokens // typical} per batch of "
            f"{batch_tokens} tokens (p50 example: {typical} tokens): {per_epoch:,} steps an epoch, within [{MIN_STEPS}, {MAX_STEPS:,}]"
        ),
        eval_why=f"half an epoch, at most {MAX_EVALUATIONS} evaluations in all",
        eval_max_examples=EVAL_EXAMPLES if valid > EVAL_EXAMPLES else None,
        valid_examples=valid, train_examples=train.examples, leaks=profile.leak_count,
    )


__all__ = ["EPOCHS", "MAX_VOCAB", "MIN_VOCAB", "size_template", "vocabulary"]
