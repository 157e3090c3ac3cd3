"""What a trial's results say beyond its metrics: where its training ended, and the
``train_loss`` points between two evaluations.

The trainer writes these keys, the study's Tune callback, live display and outcome read them;
one definition here so they cannot drift apart.

* A run has reached its end when its step is ``train.max_steps``, or when it ended at its
  ``train.max_time`` budget (its last evaluation carries :data:`MAX_TIME_KEY`). Anything
  short of that is a stop (a scheduler's) or unfinished work.
* ``train.log_every`` points travel inside the next evaluation's result as one JSON string
  under :data:`TRAIN_LOSS_POINTS_KEY`: Tune's schedulers and searchers then see only
  evaluations, and Tune's loggers store a string as it is.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional, Sequence

MAX_TIME_KEY = "max_time_reached"
TRAIN_LOSS_POINTS_KEY = "train_loss_points"


def reached_end(step: Any, max_steps: Optional[int], result: Optional[Mapping[str, Any]] = None) -> bool:
    """Whether a run whose last evaluation is ``result`` at ``step`` trained to its end."""
    if result is not None and result.get(MAX_TIME_KEY):
        return True
    return isinstance(step, (int, float)) and max_steps is not None and step >= max_steps


def encode_points(points: Sequence[tuple[int, float]]) -> str:
    return json.dumps([[int(step), float(loss)] for step, loss in points])


def decode_points(result: Mapping[str, Any]) -> list[tuple[int, float]]:
    """The (step, train_loss) points a result carries; [] when it carries none or a damaged string."""
    text = result.get(TRAIN_LOSS_POINTS_KEY)
    if not isinstance(text, str):
        return []
    try:
        return [(int(step), float(loss)) for step, loss in json.loads(text)]
    except (ValueError, TypeError):
        return []
