"""What the study callback reads of a Ray Tune trial: its best kept checkpoint, its error text.

Duck-typed on Ray's ``Trial`` (no Ray import), so tests can hand in plain objects.

This is the one tracking module that reads Ray internals (checked against Ray 2.60.0; Ray
has no public per-trial checkpoint list on the driver): ``Trial.run_metadata.checkpoint_manager``
(``ray.train._internal.checkpoint_manager._CheckpointManager``), its ``_checkpoint_results``
list (the kept checkpoints with their results) and ``latest_checkpoint_result``.
``tests/study/test_ray_internals.py`` fails loudly when they change.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Optional

from tfcli.spec.objective import TIE_BREAK_METRIC, outranks
from tfcli.tracking.values import flatten, number, step_of


def best_checkpoint(trial: Any, metric: str, mode: str) -> Optional[tuple[Any, Optional[float], Optional[int], Optional[float]]]:
    """``(checkpoint, objective value, step, validation loss)`` of the trial's best kept checkpoint, or None.

    Ray's checkpoint manager keeps the trial's checkpoints (all, or the ``num_to_keep`` best
    by its score attribute, plus the latest) with the result each was reported with; the best
    by ``metric`` under ``mode`` wins, ties broken by :func:`tfcli.spec.objective.outranks`;
    without the metric, the latest.
    """
    manager = getattr(getattr(trial, "run_metadata", None), "checkpoint_manager", None)
    results = list(getattr(manager, "_checkpoint_results", None) or [])
    latest = getattr(manager, "latest_checkpoint_result", None)
    if latest is not None and all(latest is not r for r in results):
        results.append(latest)
    best, best_key = None, None
    for result in results:
        if getattr(result, "checkpoint", None) is None:
            continue
        flat = flatten(result.metrics or {})
        value = number(flat.get(metric))
        if value is None or math.isnan(value):
            continue
        key = (value, number(flat.get(TIE_BREAK_METRIC)), step_of(result.metrics or {}))
        if best is None or outranks(key, best_key, mode):
            best, best_key = result, key
    if best is None:
        if latest is not None and latest.checkpoint is not None:
            return latest.checkpoint, None, step_of(latest.metrics or {}), None
        checkpoint = getattr(trial, "checkpoint", None)
        return (checkpoint, None, None, None) if checkpoint is not None else None
    return best.checkpoint, best_key[0], best_key[2], best_key[1]


def trial_error_text(trial: Any) -> str:
    path = getattr(trial, "error_file", None)
    if path and os.path.isfile(path):
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            pass
    try:
        error = trial.get_error()
        if error:
            return str(error)
    except Exception:  # noqa: BLE001
        pass
    return f"trial {trial.trial_id} failed (Ray gave no error text)"
