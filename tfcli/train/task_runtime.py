"""How each task trains and is evaluated: its model head, its loss, its predictions.

A runtime joins the encoded data (:mod:`tfcli.data`), the model (:mod:`tfcli.model`) and the
metrics (:mod:`tfcli.metrics`) for one task. The training loop only calls the methods of
:class:`TaskRuntime`.
"""

from __future__ import annotations

import time
from typing import Any

from tfcli.spec.schema import StudySpec
from tfcli.train.prepare import PreparedData

#: Longest answer span (in tokens) that extractive QA predicts.
MAX_ANSWER_TOKENS = 30


class TaskRuntime:
    kind = ""

    def __init__(self, spec: StudySpec, data: PreparedData):
        from tfcli.model.transformer import TransformerConfig

        self.spec = spec
        self.data = data
        self.tokenizer = data.tokenizer
        settings = spec.model.model_dump()
        settings["max_length"] = max(settings["max_length"], 8)
        self.model_config = TransformerConfig.from_dict(
            {
                **settings,
                "vocab_size": self.tokenizer.vocab_size,
                "kind": self.kind,
                "num_classes": max(len(data.labels or []), 2),
                "pad_id": self.tokenizer.pad_id,
            }
        )

    # The loop's interface --------------------------------------------------------------------
    def build_model(self):
        from tfcli.model.transformer import build_model

        return build_model(self.model_config)

    def parameter_count(self, model) -> int:
        from tfcli.model.transformer import count_parameters

        return count_parameters(getattr(model, "_orig_mod", model))

    def lengths(self, split: str) -> list[int]:
        return self.data.encoded[split].lengths

    def within_bucket_order(self, split: str):
        """Per-example keys that order a length bucket (see ``bucket_batches(within=...)``)."""
        return None

    def collate(self, split: str, indices: list[int]):
        from tfcli.data.batching import collate

        return collate(self.data.encoded[split], indices, pad_id=self.tokenizer.pad_id)

    def n_targets(self, batch) -> int:
        """What the loss is averaged over: target tokens, or examples."""
        return len(batch.indices)

    def n_real_tokens(self, batch) -> int:
        return batch.n_tokens

    def loss(self, model, batch, label_smoothing: float):
        """The summed loss of a batch (the loop divides by ``n_targets``)."""
        raise NotImplementedError

    def predict(self, model, batch, split: str) -> list[Any]:
        raise NotImplementedError

    def reference(self, example) -> Any:
        raise NotImplementedError

    def output_record(self, example, prediction) -> dict[str, Any]:
        raise NotImplementedError

    # Evaluation --------------------------------------------------------------------------------
    def metric_settings(self):
        from tfcli.metrics import MetricSettings

        return MetricSettings.from_eval(self.spec.eval)

    def evaluate(self, model, split: str, placement, limit: int | None = None) -> tuple[dict[str, float], list[dict]]:
        """Loss and task metrics on ``split`` (its first ``limit`` examples), and the outputs."""
        from tfcli.metrics import compute_metrics

        import torch

        from tfcli.data.batching import bucket_batches

        encoded = self.data.encoded[split]
        count = len(encoded) if limit is None else min(limit, len(encoded))
        lengths = encoded.lengths[:count]
        budget = max(self.spec.train.batch_tokens, max(lengths, default=1))
        predictions: list[Any] = [None] * count
        loss_sum, targets = 0.0, 0
        decode_s = 0.0
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for indices in bucket_batches(lengths, budget, shuffle=False, seed=0):
                    for chunk in _chunks(indices, self.spec.eval.batch_size):
                        batch = self.collate(split, chunk).to(placement.device)
                        with placement.autocast():
                            loss_sum += float(self.loss(model, batch, 0.0))
                            decode_started = time.perf_counter()
                            outputs = self.predict(model, batch, split)
                            decode_s += time.perf_counter() - decode_started
                        targets += self.n_targets(batch)
                        for index, prediction in zip(batch.indices, outputs):
                            predictions[index] = prediction
        finally:
            model.train(was_training)
        examples = encoded.examples[:count]
        references = [self.reference(example) for example in examples]
        result = compute_metrics(self.spec.task.type, predictions, references, self.metric_settings())
        metrics = {name: float(value) for name, value in result.scores.items()}
        metrics["loss"] = loss_sum / max(targets, 1)
        metrics["decode_ms_per_example"] = 1000.0 * decode_s / max(count, 1)
        records = [
            {"index": i, **self.output_record(example, prediction)} for i, (example, prediction) in enumerate(zip(examples, predictions))
        ]
        return metrics, records


def _smoothed_nll(logits, target, real, smoothing: float):
    """Summed cross-entropy with label smoothing over real positions only.

    The span head fills pad positions with the dtype's most negative value; smoothing over them
    (as ``F.cross_entropy(label_smoothing=...)`` would) makes the loss infinite.
    """
    logp = logits.float().log_softmax(-1)  # (B, L)
    nll = -logp.gather(1, target.unsqueeze(1)).squeeze(1)  # (B,)
    if smoothing <= 0:
        return nll.sum()
    smooth = -logp.masked_fill(~real, 0.0).sum(-1) / real.sum(-1).clamp(min=1)
    return ((1 - smoothing) * nll + smoothing * smooth).sum()


def seq2seq_loss(model, batch, label_smoothing: float):
    """Summed label-smoothed cross-entropy of a seq2seq batch over its real target tokens.

    The model computes it (``Seq2SeqTransformer.forward`` with targets) so that pad positions
    never reach the output projection; it masks with ``config.pad_id`` (the tokenizer's).
    """
    return model(batch.src, batch.tgt_in, targets=batch.tgt_out, label_smoothing=label_smoothing)


def _chunks(items: list[int], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Seq2SeqRuntime(TaskRuntime):
    kind = "seq2seq"

    def within_bucket_order(self, split: str):
        return self.data.encoded[split].side_lengths

    def n_targets(self, batch) -> int:
        return batch.n_target_tokens

    def n_real_tokens(self, batch) -> int:
        return batch.n_source_tokens + batch.n_target_tokens

    def loss(self, model, batch, label_smoothing: float):
        return seq2seq_loss(model, batch, label_smoothing)

    def decode_ids(self, model, src) -> list[list[int]]:
        from tfcli.model.decode import beam_search, greedy_decode

        e = self.spec.eval
        max_length = e.max_decode_length or self.spec.data.max_target_length
        if e.beam_size == 1:
            return greedy_decode(model, src, bos_id=self.tokenizer.bos_id, eos_id=self.tokenizer.eos_id, max_length=max_length)
        return beam_search(
            model,
            src,
            bos_id=self.tokenizer.bos_id,
            eos_id=self.tokenizer.eos_id,
            beam_size=e.beam_size,
            length_penalty=e.length_penalty,
            max_length=max_length,
        )

    def predict(self, model, batch, split: str) -> list[str]:
        return [self.tokenizer.decode(ids) for ids in self.decode_ids(model, batch.src)]

    def reference(self, example) -> list[str]:
        return [example.target]

    def output_record(self, example, prediction) -> dict[str, Any]:
        return {"source": example.source, "reference": example.target, "prediction": prediction}


class ClassificationRuntime(TaskRuntime):
    kind = "classifier"

    def loss(self, model, batch, label_smoothing: float):
        import torch.nn.functional as F

        logits = model(batch.ids)  # (B, C)
        return F.cross_entropy(logits.float(), batch.labels, label_smoothing=label_smoothing, reduction="sum")

    def predict(self, model, batch, split: str) -> list[str]:
        labels = self.data.labels or []
        return [labels[i] for i in model(batch.ids).argmax(dim=-1).tolist()]

    def reference(self, example) -> str:
        return example.label

    def output_record(self, example, prediction) -> dict[str, Any]:
        return {"text": example.text, "reference": example.label, "prediction": prediction}


class QARuntime(TaskRuntime):
    kind = "span"

    def loss(self, model, batch, label_smoothing: float):
        start_logits, end_logits = model(batch.ids)  # (B, L) each
        real = ~batch.pad_mask  # (B, L)
        start = _smoothed_nll(start_logits, batch.start, real, label_smoothing)
        end = _smoothed_nll(end_logits, batch.end, real, label_smoothing)
        return (start + end) / 2

    def predict(self, model, batch, split: str) -> list[str]:
        import torch

        start_logits, end_logits = model(batch.ids)
        length = batch.ids.shape[1]
        allowed = batch.context_mask  # (B, L)
        scores = start_logits.float().unsqueeze(2) + end_logits.float().unsqueeze(1)  # (B, L, L)
        positions = torch.arange(length, device=batch.ids.device)
        span = (positions.unsqueeze(0) >= positions.unsqueeze(1)) & (
            positions.unsqueeze(0) - positions.unsqueeze(1) < MAX_ANSWER_TOKENS
        )  # (L, L): end >= start, short enough
        valid = span.unsqueeze(0) & allowed.unsqueeze(2) & allowed.unsqueeze(1)
        scores = scores.masked_fill(~valid, float("-inf"))
        best = scores.reshape(scores.shape[0], -1).argmax(dim=-1)
        encoded = self.data.encoded[split]
        return [encoded.span_text(i, int(b) // length, int(b) % length) for i, b in zip(batch.indices, best.tolist())]

    def reference(self, example) -> list[str]:
        return list(example.answers)

    def output_record(self, example, prediction) -> dict[str, Any]:
        return {"id": example.id, "question": example.question, "reference": list(example.answers), "prediction": prediction}


_RUNTIMES = {
    "translation": Seq2SeqRuntime,
    "summarization": Seq2SeqRuntime,
    "classification": ClassificationRuntime,
    "qa": QARuntime,
}


def runtime_for(spec: StudySpec, data: PreparedData) -> TaskRuntime:
    return _RUNTIMES[spec.task.type](spec, data)
