"""Computing a study's baselines: fit on train, predict valid and test, score as trials do."""

from __future__ import annotations

from typing import Any, Sequence

from tfcli.baselines.cache import cache_file, data_hash, read_cached, write_cached
from tfcli.baselines.registry import baselines_for
from tfcli.baselines.results import BaselineResult
from tfcli.data.examples import Splits
from tfcli.metrics import MetricSettings, compute_metrics
from tfcli.spec.schema import StudySpec


def reference(task: str, example: Any) -> Any:
    """The reference of ``example`` in the form the task's metrics take (as a trial scores it)."""
    if task == "classification":
        return example.label
    if task == "qa":
        return list(example.answers)
    return [example.target]


def output_record(task: str, index: int, example: Any, prediction: Any) -> dict:
    """One line of ``valid_outputs.jsonl``, with the fields a trial's validation outputs have."""
    if task == "classification":
        fields = {"text": example.text, "reference": example.label}
    elif task == "qa":
        fields = {"id": example.id, "question": example.question, "reference": list(example.answers)}
    else:
        fields = {"source": example.source, "reference": example.target}
    return {"index": index, **fields, "prediction": prediction}


def evaluation_splits(spec: StudySpec, splits: Splits) -> dict[str, list]:
    """The examples each split is scored on: the valid split cut to ``eval.max_examples`` (the
    examples a trial validates on), the whole test split."""
    limit = spec.eval.max_examples
    return {"valid": list(splits.valid[:limit] if limit else splits.valid), "test": list(splits.test)}


def score_baselines(spec: StudySpec, splits: Splits) -> list[BaselineResult]:
    """Every baseline of the study's task, fitted on ``splits.train``, on valid then test."""
    task = spec.task.type
    settings = MetricSettings.from_eval(spec.eval)
    scored = evaluation_splits(spec, splits)
    results = []
    for baseline in baselines_for(task):
        predict, detail = baseline.fit(list(splits.train))
        for split, examples in scored.items():
            if not examples:
                continue
            predictions = predict(examples)
            metrics = compute_metrics(task, predictions, [reference(task, e) for e in examples], settings)
            outputs = [output_record(task, i, e, p) for i, (e, p) in enumerate(zip(examples, predictions))] if split == "valid" else []
            results.append(
                BaselineResult(
                    name=baseline.name,
                    split=split,
                    metrics={k: float(v) for k, v in metrics.scores.items()},
                    description=detail,
                    outputs=outputs,
                )
            )
    return results


def compute_baselines(spec: StudySpec, splits: Splits, *, use_cache: bool = True) -> list[BaselineResult]:
    """The baselines of ``spec``'s task on ``splits``, from the cache when the data was seen.

    ``splits`` are the study's data as a trial reads it: pass
    :func:`tfcli.train.prepare.load_splits` ``(spec)`` (this package sits beside ``train`` and
    does not import it). Results come valid first then test for each baseline, in the
    task's order (:data:`tfcli.baselines.registry.BASELINES`).
    """
    settings = {**MetricSettings.from_eval(spec.eval).to_dict(), "valid_limit": spec.eval.max_examples}
    path = cache_file(data_hash(spec.task.type, splits, settings))
    if use_cache:
        cached = read_cached(path)
        if cached is not None:
            return cached
    results = score_baselines(spec, splits)
    write_cached(path, results)
    return results


def results_of(results: Sequence[BaselineResult], split: str) -> list[BaselineResult]:
    return [r for r in results if r.split == split]
