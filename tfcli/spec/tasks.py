"""What each task is: its architecture, the metrics it produces and its default objective.

Pure metadata with no torch import, so that study validation (which must stay fast) can check
an objective against the task it names.
"""

from __future__ import annotations

from dataclasses import dataclass

TASK_TYPES = ("translation", "summarization", "classification", "qa")

#: What every evaluation of every task also logs: the trial's costs, objectives and report
#: columns like any metric (``tokens_per_s`` is of the training steps since the last evaluation;
#: ``peak_memory_mb`` the process's peak resident memory on a CPU, allocated memory on CUDA).
COST_METRICS = ("parameters", "train_time_s", "tokens_per_s", "decode_ms_per_example", "peak_memory_mb")

#: Metrics where lower is better; every other metric is better when higher.
LOWER_IS_BETTER = frozenset({"ter", "loss", "parameters", "train_time_s", "decode_ms_per_example", "peak_memory_mb"})

#: Generation metrics that are flat early: every trial scores about the same (BLEU 0) at the
#: first evaluations, so a scheduler's first rungs cannot tell trials apart by them.
FLAT_EARLY_METRICS = frozenset({"bleu", "chrf", "ter", "meteor", "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match"})
#: What ASHA and HyperBand act on when the objective is flat early and ``scheduler.metric`` is
#: not set: the validation loss separates trials from the first evaluation.
EARLY_SIGNAL_METRIC = "loss"
#: Metrics on a 0-100 scale (every score of every task); losses and costs are >= 0 only.
PERCENT_METRICS = frozenset(
    {"bleu", "chrf", "meteor", "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match", "f1", "accuracy",
     "precision", "recall", "f1_micro", "precision_micro", "recall_micro", "f1_weighted", "precision_weighted",
     "recall_weighted"}
)


def metric_range(metric: str) -> tuple[float, float | None]:
    """The values ``metric`` can take: (lowest, highest or None when unbounded)."""
    return (0.0, 100.0) if metric in PERCENT_METRICS else (0.0, None)


@dataclass(frozen=True)
class TaskInfo:
    name: str
    architecture: str  # "encoder-decoder" or "encoder"
    reads: str  # what one example holds
    metrics: tuple[str, ...]
    default_metric: str
    builtin_sets: tuple[str, ...]

    @property
    def objective_metrics(self) -> tuple[str, ...]:
        """What a study of this task may optimise: its metrics and the costs."""
        return self.metrics + COST_METRICS

    def default_mode(self, metric: str | None = None) -> str:
        return "min" if (metric or self.default_metric) in LOWER_IS_BETTER else "max"


TASKS: dict[str, TaskInfo] = {
    "translation": TaskInfo(
        name="translation",
        architecture="encoder-decoder",
        reads="source text and target text",
        metrics=("bleu", "chrf", "ter", "meteor", "loss"),
        default_metric="bleu",
        builtin_sets=("dates", "toylang"),
    ),
    "summarization": TaskInfo(
        name="summarization",
        architecture="encoder-decoder",
        reads="a document and its summary",
        metrics=("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "meteor", "loss"),
        default_metric="rougeL",
        builtin_sets=("headlines",),
    ),
    "classification": TaskInfo(
        name="classification",
        architecture="encoder",
        reads="a text and its label",
        metrics=(
            "accuracy",
            "f1",
            "precision",
            "recall",
            "f1_micro",
            "precision_micro",
            "recall_micro",
            "f1_weighted",
            "precision_weighted",
            "recall_weighted",
            "loss",
        ),
        default_metric="accuracy",
        builtin_sets=("sentiment",),
    ),
    "qa": TaskInfo(
        name="qa",
        architecture="encoder",
        reads="a context, a question and one or more answers found in the context",
        metrics=("exact_match", "f1", "loss"),
        default_metric="f1",
        builtin_sets=("facts",),
    ),
}
