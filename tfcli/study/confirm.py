"""What ``tfcli study confirm`` retrains: the top trials' configurations, each with fresh seeds.

A plan entry is ``{"confirms": TRIAL_ID, "seed": S, "config": {searched values..., "train.seed": S}}``.
The whole plan of a study (every ``confirm`` so far) is kept as JSON in the parent run's tag
:data:`TAG_CONFIRM_PLAN`; the study callback tags a trial whose configuration is a planned
one as a confirmation run (:mod:`tfcli.tracking.callback`), also after a resume.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from tfcli.errors import StudyError
from tfcli.records import Confirmation, TrialRecord, TrialStatus
from tfcli.report.ranking import rank_trials
from tfcli.spec.schema import StudySpec

TAG_CONFIRM_PLAN = "tfcli.confirm_plan"


def stored_plan(parent_tags: dict[str, str]) -> list[dict[str, Any]]:
    """The confirmation plan a study's parent run holds ([] when it was never confirmed)."""
    text = parent_tags.get(TAG_CONFIRM_PLAN)
    return json.loads(text) if text else []


def fresh_seeds(spec: StudySpec, record: TrialRecord, count: int) -> list[int]:
    """``count`` seeds that differ from the one the trial trained with (its train.seed)."""
    used = int(dict(record.config).get("train.seed", spec.train.seed))
    return [used + 1 + j for j in range(count)]


def plan_confirmations(spec: StudySpec, records: Sequence[TrialRecord], *, top: int, seeds: int) -> list[dict[str, Any]]:
    """The entries for the ``top`` best finished trials (by the objective), ``seeds`` each.

    Raises StudyError, in one line, for fewer than 2 seeds (no spread to measure) or more
    trials than have finished.
    """
    if seeds < 2:
        raise StudyError(f"--seeds must be at least 2 to measure the spread across seeds, but got {seeds}")
    if top < 1:
        raise StudyError(f"--top must be at least 1, but got {top}")
    finished = [r for r in records if r.status is TrialStatus.FINISHED and not r.error]
    ranking = rank_trials(finished, spec.primary_objective.metric, spec.primary_objective.mode, at="best")
    if top > len(ranking.ranked):
        raise StudyError(
            f"--top must not exceed the trials that finished with a {spec.primary_objective.metric} value, "
            f"but got --top {top} and study {spec.name!r} has {len(ranking.ranked)}"
        )
    searched = set(spec.search.parameters)
    entries = []
    for row in ranking.ranked[:top]:
        base = {k: v for k, v in dict(row.record.config).items() if k in searched}
        for seed in fresh_seeds(spec, row.record, seeds):
            entries.append({"confirms": row.record.trial_id, "seed": seed, "config": {**base, "train.seed": seed}})
    return entries


def merge_plans(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The old plan with the new entries it lacks (by trial and seed), in order."""
    known = {(e["confirms"], e["seed"]) for e in old}
    return [*old, *(e for e in new if (e["confirms"], e["seed"]) not in known)]


def owed(plan: list[dict[str, Any]], confirmations: Sequence[Confirmation]) -> list[dict[str, Any]]:
    """The plan's entries that no confirmation run covers yet (finished or not)."""
    covered = {(c.confirms, c.seed) for c in confirmations}
    return [e for e in plan if (e["confirms"], e["seed"]) not in covered]
