"""The confirmed block of a report: what ``tfcli study confirm`` found across seeds.

Per confirmed configuration (named by the trial it retrains): the objective's mean, standard
deviation and 95% interval across its seeds; the study's winner (the top-ranked trial)
against every other confirmed configuration with Welch's t-test across seeds and the
two-level bootstrap (seeds, then validation examples); and one verdict. Pure over records
and outputs: :func:`confirmed_block` takes a function that fetches a run's validation
outputs, so the rules are unit-testable without a store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from tfcli.metrics import seed_bootstrap
from tfcli.metrics.seed_stats import ALPHA, TIE, SeedSummary, seed_summary, verdict, welch_test
from tfcli.records import Confirmation, TrialStatus
from tfcli.report.ranking import is_finite
from tfcli.report.significance import by_index, reference_of, untestable_reason
from tfcli.spec.objective import Objective

#: What the block says each verdict means.
VERDICT_TEXT = {
    "holds": "the winner holds: its mean across seeds beats every other confirmed configuration (Welch p < {alpha})",
    "tie": "a tie within noise: across seeds the winner is not significantly better than {rivals}",
    "changes": "the winner changes: {new} is better across seeds (Welch p < {alpha})",
}


@dataclass(frozen=True)
class ConfirmedConfig:
    trial_id: str  # the trial whose configuration was retrained
    config: dict
    valid: SeedSummary
    seeds: list[int]
    test: Optional[SeedSummary] = None

    def to_dict(self) -> dict:
        return {
            "trial_id": self.trial_id,
            "config": self.config,
            "seeds": self.seeds,
            "valid": self.valid.to_dict(),
            "test": self.test.to_dict() if self.test else None,
        }


@dataclass(frozen=True)
class SeedComparison:
    other: str
    welch: dict
    bootstrap: Optional[dict] = None
    note: Optional[str] = None

    def to_dict(self) -> dict:
        return {"other": self.other, "welch": self.welch, "bootstrap": self.bootstrap, "note": self.note}


@dataclass
class ConfirmedBlock:
    metric: str
    mode: str
    winner: str
    configs: list[ConfirmedConfig] = field(default_factory=list)
    comparisons: list[SeedComparison] = field(default_factory=list)
    verdict: str = TIE
    new_winner: Optional[str] = None

    @property
    def best_confirmed(self) -> Optional[ConfirmedConfig]:
        """The configuration with the best mean across seeds."""
        if not self.configs:
            return None
        objective = Objective(self.metric, self.mode)
        return max(self.configs, key=lambda c: objective.score(c.valid.mean))

    def sentence(self) -> str:
        rivals = ", ".join(c.other for c in self.comparisons) or "no other configuration"
        return VERDICT_TEXT[self.verdict].format(alpha=ALPHA, rivals=rivals, new=self.new_winner)

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "mode": self.mode,
            "winner": self.winner,
            "verdict": self.verdict,
            "verdict_text": self.sentence(),
            "new_winner": self.new_winner,
            "configs": [c.to_dict() for c in self.configs],
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


OutputsOf = Callable[[Confirmation], Optional[list[dict]]]


def _by_config(confirmations: Sequence[Confirmation]) -> dict[str, list[Confirmation]]:
    groups: dict[str, list[Confirmation]] = {}
    for c in confirmations:
        if c.record.status is TrialStatus.FINISHED and not c.record.error and is_finite(c.record.objective_value):
            groups.setdefault(c.confirms, []).append(c)
    return groups


def _test_summary(runs: Sequence[Confirmation], metric: str) -> Optional[SeedSummary]:
    values = [r.record.metrics.get(f"test/{metric}") for r in runs]
    return seed_summary(values) if values and all(v is not None and math.isfinite(v) for v in values) else None


def confirmed_block(
    confirmations: Sequence[Confirmation],
    *,
    winner: str,
    metric: str,
    mode: str,
    task: str,
    outputs_of: Optional[OutputsOf] = None,
    settings=None,
) -> Optional[ConfirmedBlock]:
    """The block, or None when no configuration has two finished confirmation runs.

    ``winner``: the trial id the study ranks first. ``outputs_of`` (optional) fetches a run's
    validation outputs for the two-level bootstrap; without it only Welch's test is made.
    """
    groups = {k: v for k, v in _by_config(confirmations).items() if len(v) >= 2}
    if not groups:
        return None
    configs = [
        ConfirmedConfig(
            trial_id=trial_id,
            config={k: v for k, v in dict(runs[0].record.config).items() if k != "train.seed"},
            valid=seed_summary([r.record.objective_value for r in runs]),
            seeds=sorted(r.seed for r in runs),
            test=_test_summary(runs, metric),
        )
        for trial_id, runs in groups.items()
    ]
    block = ConfirmedBlock(metric=metric, mode=mode, winner=winner, configs=configs)
    if winner not in groups:
        block.verdict, block.new_winner = TIE, None
        return block
    winner_scores = [r.record.objective_value for r in groups[winner]]
    for other, runs in groups.items():
        if other == winner:
            continue
        welch = welch_test(winner_scores, [r.record.objective_value for r in runs])
        boot, note = _bootstrap(groups[winner], runs, task, metric, outputs_of, settings)
        block.comparisons.append(SeedComparison(other=other, welch=welch, bootstrap=boot, note=note))
    means = {c.trial_id: c.valid.mean for c in configs}
    others = [(c.other, means[c.other], c.welch["p_value"]) for c in block.comparisons]
    block.verdict, block.new_winner = verdict(means[winner], others, mode)
    return block


def _bootstrap(winner_runs, other_runs, task, metric, outputs_of, settings) -> tuple[Optional[dict], Optional[str]]:
    """The two-level bootstrap of winner - other, or a note saying why there is none."""
    if outputs_of is None:
        return None, "no validation outputs read"
    untestable = untestable_reason(task, metric)
    if untestable:
        return None, untestable
    outputs = [outputs_of(r) for r in [*winner_runs, *other_runs]]
    if any(not o for o in outputs):
        return None, "a confirmation run has no saved validation outputs"
    indexed = [by_index(o) for o in outputs]
    indices = sorted(indexed[0])
    if any(sorted(o) != indices for o in indexed):
        return None, "validated on different examples"
    references = [reference_of(task, indexed[0][i].get("reference")) for i in indices]
    sets = [[o[i].get("prediction") for i in indices] for o in indexed]
    split = len(winner_runs)
    result = seed_bootstrap(task, sets[split:], sets[:split], references, metric, settings)
    return result, None
