"""Held-out test scores on a trial's run: metrics ``test/<metric>`` and ``test_outputs.jsonl``.

Logged at the step of the checkpoint they score, so the MLflow UI shows them beside the
validation metric that chose that checkpoint. Reports read them as plain metrics of the run.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

from tfcli.tracking.store import Tracking
from tfcli.tracking.tags import MAX_METRICS_PER_BATCH
from tfcli.tracking.values import metric_name

TEST_METRIC_PREFIX = "test/"
TEST_OUTPUTS_ARTIFACT = "test_outputs.jsonl"


def test_metric(metric: str) -> str:
    """The run metric that holds ``metric`` on the test split."""
    return f"{TEST_METRIC_PREFIX}{metric}"


def log_test_scores(
    tracking: Tracking, run_id: str, metrics: Mapping[str, float], outputs: Sequence[Mapping], *, step: Optional[int]
) -> None:
    """Log the test ``metrics`` (numbers only) and the per-example ``outputs`` on ``run_id``."""
    from mlflow.entities import Metric

    client = tracking.client()
    now = int(time.time() * 1000)
    batch = [
        Metric(metric_name(test_metric(k)), float(v), now, int(step or 0))
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    for start in range(0, len(batch), MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=batch[start : start + MAX_METRICS_PER_BATCH])
    with tempfile.TemporaryDirectory(prefix="tfcli-test-scores-") as tmp:
        path = Path(tmp) / TEST_OUTPUTS_ARTIFACT
        path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in outputs), encoding="utf-8")
        client.log_artifact(run_id, str(path))
