"""Loading an export folder and predicting with it, from lines of text or MLflow's input."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from tfcli.data.encode import encode_classification, encode_qa, encode_seq2seq
from tfcli.data.examples import ClassificationExample, QAExample, Seq2SeqExample
from tfcli.data.tokenizer import SubwordTokenizer
from tfcli.errors import DataError
from tfcli.export import validate as v
from tfcli.export.folder import ExportError, read_export_config
from tfcli.spec.schema import StudySpec
from tfcli.train.checkpoint import MODEL_FILE, TOKENIZER_FILE, load_weights
from tfcli.train.device import Hardware, Placement, choose_placement
from tfcli.train.prepare import PreparedData
from tfcli.train.task_runtime import runtime_for


def load_export(folder: str | Path, *, device: Optional[str] = None) -> "ExportedModel":
    """Load an export folder for prediction: JSON and safetensors only.

    Every file is checked before it is trusted (:mod:`tfcli.export.validate`): a damaged or
    hostile folder raises one ExportError, never a traceback, and nothing is written.
    """
    import torch

    from tfcli.model.transformer import TransformerConfig, build_model

    folder = Path(folder)
    config = read_export_config(folder)  # checked: types, bounds, the study spec
    spec = StudySpec.model_validate(config["study_spec"])
    tokenizer_path = folder / TOKENIZER_FILE
    v.parse_json(tokenizer_path, v.read_bytes(tokenizer_path, v.MAX_TOKENIZER_BYTES))
    try:
        tokenizer = SubwordTokenizer.load(tokenizer_path)
    except Exception as err:  # the tokenizers library's own errors: one line, not a traceback
        reason = _first_line(err).removeprefix(f"{tokenizer_path}: ").removeprefix("not a tokenizer file ")
        raise v.export_error(tokenizer_path, f"not a tokenizer file {reason}") from None
    model_config = TransformerConfig.from_dict(config["model"])
    if tokenizer.vocab_size > model_config.vocab_size:
        raise v.export_error(
            tokenizer_path,
            f"the tokenizer must have at most model.vocab_size={model_config.vocab_size} tokens, but has {tokenizer.vocab_size}",
            "use the tokenizer.json the model was exported with",
        )
    weights = folder / MODEL_FILE
    tensors = v.read_safetensors_header(weights)  # before safetensors or torch parse the file
    v.check_weights_fill_model(weights, tensors, config["model"])  # before memory is allocated for the model
    placement = choose_placement(device or "auto", "auto", Hardware.detect())
    trained = config.get("training") or {}
    if trained.get("device") == placement.device and trained.get("precision") in ("fp32", "fp16", "bf16"):
        placement = Placement(placement.device, trained["precision"])  # as the trial evaluated
    torch.manual_seed(0)
    try:
        model = build_model(model_config)
    except MemoryError:
        raise v.export_error(weights, "the model does not fit in memory", "load it on a machine with more memory") from None
    v.check_weights_match(weights, tensors, model)
    try:
        load_weights(model, folder, device="cpu")
    except MemoryError:
        raise v.export_error(weights, "the model does not fit in memory", "load it on a machine with more memory") from None
    except Exception as err:  # safetensors' own checks, should ours have missed something
        raise v.export_error(weights, f"the weights do not load ({_first_line(err)})") from None
    model.to(placement.device).eval()
    return ExportedModel(folder=folder, config=config, spec=spec, tokenizer=tokenizer, model=model, placement=placement)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    return line if len(line) <= 200 else line[:197] + "..."


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
