"""Baselines on a study's parent run: logging them, and reading them back from its metrics.

Names (kept here until they join :mod:`.tags`):

* ``baseline/<name>/<metric>``: a baseline's score on the validation split (what trials are
  ranked on), e.g. ``baseline/copy_source/bleu``;
* ``baseline/<name>/test/<metric>``: its score on the test split;
* the artifact ``baselines/<name>/valid_outputs.jsonl``: its per-example validation outputs,
  in the shape of a trial's ``checkpoint/valid_outputs.jsonl``, for the report's paired
  bootstrap of the winner against the best baseline.

The parent run's metrics come back with the study record (:attr:`StudyRecord.metrics`, from
the direct SQLite reader or MLflow's client alike), so reading baselines costs no query.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

from tfcli.baselines.results import BaselineResult
from tfcli.tracking.artifacts import download_run_artifact
from tfcli.tracking.store import Tracking
from tfcli.tracking.tags import MAX_METRICS_PER_BATCH, VALID_OUTPUTS_FILE

BASELINE_METRIC_PREFIX = "baseline/"
BASELINE_TEST_SEGMENT = "test"
BASELINE_ARTIFACT_PATH = "baselines"


def baseline_metric_key(name: str, split: str, metric: str) -> str:
    """The parent run's metric key of ``metric`` of the baseline ``name`` on ``split``."""
    if "/" in name:
        raise ValueError(f"a baseline name must not contain '/', but got {name!r}")
    middle = f"{BASELINE_TEST_SEGMENT}/" if split == "test" else ""
    return f"{BASELINE_METRIC_PREFIX}{name}/{middle}{metric}"


def baseline_outputs_path(name: str) -> str:
    return f"{BASELINE_ARTIFACT_PATH}/{name}/{VALID_OUTPUTS_FILE}"


def log_baselines(tracking: Tracking, run_id: str, results: Sequence[BaselineResult]) -> None:
    """Log ``results`` on the run ``run_id`` (a study's parent run): every score as a metric at
    step 0, and each validation result's per-example outputs as an artifact."""
    from mlflow.entities import Metric

    client = tracking.client()
    now = int(time.time() * 1000)
    metrics = [
        Metric(baseline_metric_key(r.name, r.split, metric), float(value), now, 0)
        for r in results
        for metric, value in r.metrics.items()
    ]
    for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS_PER_BATCH])
    with tempfile.TemporaryDirectory(prefix="tfcli-baselines-") as tmp:
        for result in results:
            if result.split != "valid" or not result.outputs:
                continue
            folder = Path(tmp) / result.name
            folder.mkdir()
            path = folder / VALID_OUTPUTS_FILE
            path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in result.outputs), encoding="utf-8")
            client.log_artifact(run_id, str(path), f"{BASELINE_ARTIFACT_PATH}/{result.name}")


def baselines_from_metrics(metrics: Mapping[str, float]) -> list[BaselineResult]:
    """The baselines a parent run's metrics hold, valid then test per baseline, in key order
    of first appearance (sorted by name); other metrics are ignored."""
    scores: dict[tuple[str, str], dict[str, float]] = {}
    for key in sorted(metrics):
        if not key.startswith(BASELINE_METRIC_PREFIX):
            continue
        parts = key[len(BASELINE_METRIC_PREFIX) :].split("/")
        if len(parts) == 2:
            (name, metric), split = parts, "valid"
        elif len(parts) == 3 and parts[1] == BASELINE_TEST_SEGMENT:
            name, _, metric = parts
            split = "test"
        else:
            continue
        scores.setdefault((name, split), {})[metric] = float(metrics[key])
    order = {"valid": 0, "test": 1}
    return [
        BaselineResult(name=name, split=split, metrics=values)
        for (name, split), values in sorted(scores.items(), key=lambda item: (item[0][0], order[item[0][1]]))
    ]


def baseline_outputs(tracking: Tracking, run_id: str, name: str, folder: Path, *, artifact_uri: Optional[str] = None) -> Optional[list[dict]]:
    """The per-example validation outputs logged for the baseline ``name``, or None."""
    path = download_run_artifact(tracking, run_id, baseline_outputs_path(name), folder / name, artifact_uri=artifact_uri)
    if path is None or not path.is_file():
        return None
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
