"""Is the top trial really better? Paired bootstrap on the trials' saved validation outputs.

Each trial's logged checkpoint carries ``valid_outputs.jsonl`` (one line per validation
example: ``index``, ``prediction``, ``reference``, ...). The top trial is tested against each
of the next few with :func:`tfcli.metrics.paired_bootstrap`: both systems are scored on the
same resamples of the examples. ``diff`` is top minus other, with its 95% interval.

Pure functions over the parsed outputs; :mod:`tfcli.report.build` downloads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

from tfcli.metrics import MetricSettings, metric_names, paired_bootstrap
from tfcli.metrics.api import SIGNIFICANCE_LEVEL


@dataclass(frozen=True)
class PairTest:
    """The top trial against one other trial."""

    other_trial: str
    other_rank: Optional[int]
    score_top: Optional[float] = None
    score_other: Optional[float] = None
    diff: Optional[float] = None  # score_top - score_other
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None
    p_value: Optional[float] = None
    significant: Optional[bool] = None
    note: Optional[str] = None  # why this pair was not tested

    def to_dict(self) -> dict:
        return asdict(self)


#: What the paired bootstrap does and does not cover, said with every significance table.
SCOPE = (
    "covers which validation examples were drawn, for one seed per trial; it says nothing of "
    "seed variance or of the winner being chosen on these examples (`tfcli study confirm NAME` retrains "
    "the top configurations with fresh seeds)"
)


@dataclass(frozen=True)
class Significance:
    """The top trial's tests, or the reason there are none (``note``)."""

    metric: str
    top_trial: Optional[str] = None
    tests: list[PairTest] = field(default_factory=list)
    examples: Optional[int] = None
    resamples: Optional[int] = None
    level: float = SIGNIFICANCE_LEVEL
    note: Optional[str] = None

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "top_trial": self.top_trial,
            "examples": self.examples,
            "resamples": self.resamples,
            "level": self.level,
            "note": self.note,
            "scope": SCOPE,
            "tests": [t.to_dict() for t in self.tests],
        }


def skipped(metric: str, note: str, top_trial: Optional[str] = None) -> Significance:
    return Significance(metric=metric, top_trial=top_trial, note=note)


def untestable_reason(task: Optional[str], metric: str) -> Optional[str]:
    """None when ``metric`` can be tested on outputs for ``task``, else the reason it cannot."""
    if metric == "loss":
        return "loss is not computed from outputs, so it has no paired test (rank by a task metric for one)"
    if task is None:
        return "the study does not name its task"
    names = metric_names(task)
    if metric not in names:
        return f"{metric} is not computed from outputs for {task} (testable: {', '.join(names)})"
    return None


def reference_of(task: str, value: Any) -> Any:
    """A saved output's reference in the shape the task's metrics take."""
    if task == "classification":
        return value
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def by_index(outputs: Sequence[dict]) -> dict[int, dict]:
    """Saved outputs by their example index."""
    return {int(o.get("index", i)): o for i, o in enumerate(outputs)}


def compare_outputs(
    task: str,
    metric: str,
    top: tuple[str, Sequence[dict]],
    others: Sequence[tuple[str, Optional[int], Optional[Sequence[dict]]]],
    settings=None,
) -> Significance:
    """Test ``top = (trial_id, outputs)`` against each ``(trial_id, rank, outputs)``.

    Outputs are matched by ``index``; a pair whose examples or references differ (the data
    settings were searched) or whose outputs are missing gets a note instead of a test.
    """
    settings = settings or MetricSettings()
    top_id, top_outputs = top
    if not top_outputs:
        return skipped(metric, f"the top trial {top_id} has no saved validation outputs", top_id)
    top_map = by_index(top_outputs)
    indices = sorted(top_map)
    references = [reference_of(task, top_map[i].get("reference")) for i in indices]
    predictions_top = [top_map[i].get("prediction") for i in indices]
    tests = []
    for other_id, other_rank, other_outputs in others:
        if not other_outputs:
            tests.append(PairTest(other_id, other_rank, note="no saved validation outputs"))
            continue
        other_map = by_index(other_outputs)
        if sorted(other_map) != indices or any(
            reference_of(task, other_map[i].get("reference")) != ref for i, ref in zip(indices, references)
        ):
            tests.append(PairTest(other_id, other_rank, note="validated on different examples (data settings differ)"))
            continue
        predictions_other = [other_map[i].get("prediction") for i in indices]
        # System A = the other trial, B = the top one: diff = top - other.
        result = paired_bootstrap(task, predictions_other, predictions_top, references, metric, settings)
        tests.append(
            PairTest(
                other_trial=other_id,
                other_rank=other_rank,
                score_top=result.score_b,
                score_other=result.score_a,
                diff=result.diff,
                ci_low=result.ci_low,
                ci_high=result.ci_high,
                p_value=result.p_value,
                significant=result.significant,
            )
        )
    return Significance(
        metric=metric,
        top_trial=top_id,
        tests=tests,
        examples=len(indices),
        resamples=settings.bootstrap_resamples,
    )
