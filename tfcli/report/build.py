"""Building a report from the tracking store: what ``tfcli report`` computes before rendering.

Reads: one :func:`tfcli.tracking.load_study` (a few paged searches, no metric history; the
baselines come with it, as the parent run's metrics), then only what the options ask for:
the history of a non-objective ranking metric (``at="best"``), the checkpoint configs of the
shown trials that lack a parameter count, the validation outputs of the trials (and of the
best baseline) under test, and for HTML the learning curves of the top trials.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional, Sequence

from tfcli import tracking as tr
from tfcli.baselines.results import BaselineResult
from tfcli.metrics.notes import METEOR_NOTE
from tfcli.records import StudyRecord, TrialRecord, TrialStatus
from tfcli.report.analyses import _parameter_counts, confirmed, importances, pareto, significance, test_check
from tfcli.report.baselines import BaselineComparison, compare_with_baselines
from tfcli.report.confirmed import ConfirmedBlock
from tfcli.report.importance import Importance
from tfcli.report.leakage import leakage_warning
from tfcli.report.pareto import ParetoFront
from tfcli.report.ranking import Condition, Ranking, Row, check_columns, searched_parameters, with_parameters
from tfcli.report.significance import Significance
from tfcli.report.values import rank_study
from tfcli.spec.objective import Objective, choose_metric
from tfcli.tracking.baselines import baselines_from_metrics
from tfcli.tracking.parent import data_leaks_from_metrics
from tfcli.tracking.test_scores import test_metric

#: Learning curves in the HTML page: this many of the top trials.
CURVES = 10
#: The loss curves of the HTML page: MLflow's training and validation loss metrics.
TRAIN_LOSS, VALID_LOSS = "train_loss", "loss"


@dataclass
class Report:
    study: StudyRecord
    ranking: Ranking
    columns: list[str]
    parameters: list[str]  # the searched ones
    trials: int  # in the study, before filters
    where: list[str] = field(default_factory=list)
    significance: Optional[Significance] = None
    importance: Optional[Importance] = None  # fANOVA for the ranking metric (kept for older readers)
    importances: list[Importance] = field(default_factory=list)  # fANOVA and PED-ANOVA, per objective
    pareto: Optional[ParetoFront] = None  # several objectives only
    loss_histories: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)  # html: metric -> run id -> points
    spec_json: Optional[str] = None
    notes: list[str] = field(default_factory=list)
    parameter_source: str = ""
    histories: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # html only
    records: list[TrialRecord] = field(default_factory=list)
    all_ranked: list[Row] = field(default_factory=list)  # every ranked trial, before --top
    baselines: list[BaselineResult] = field(default_factory=list)  # shown apart, never ranked
    baseline_comparison: Optional[BaselineComparison] = None  # the best trial vs the best baseline
    confirmed: Optional[ConfirmedBlock] = None  # what `tfcli study confirm` found across seeds
    test_note: Optional[str] = None  # the validation winner is not the test winner (test_check)
    data_leaks: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> kind -> examples train shares

    @property
    def metric(self) -> str:
        return self.ranking.metric

    @property
    def warnings(self) -> list[str]:
        """One line each: what the reader should not miss (valid or test examples shared with
        train, a study below its baseline, a validation winner that is not the test winner)."""
        line = self.baseline_comparison.warning() if self.baseline_comparison else None
        return [w for w in (leakage_warning(self.data_leaks), line, self.test_note) if w]

    @property
    def mode(self) -> str:
        return self.ranking.mode

    @property
    def objective(self) -> Objective:
        """The ranking metric and its mode."""
        return Objective(self.metric, self.mode)


def _default_columns(parameters: Sequence[str], metric: str, records: Sequence[TrialRecord] = ()) -> list[str]:
    """The report's columns; ``test/<metric>`` beside the metric once test scores exist."""
    test = [test_metric(metric)] if any(test_metric(metric) in r.metrics for r in records) else []
    return ["rank", "trial", metric, *test, "step", *parameters, "time", "parameters", "status"]


def build_report(
    tracking,
    name: str,
    *,
    metric: Optional[str] = None,
    mode: Optional[str] = None,
    at: str = "best",
    top: Optional[int] = 20,
    where: Sequence[Condition] = (),
    columns: Optional[Sequence[str]] = None,
    compare: int = 3,
    with_significance: bool = True,
    with_importance: bool = True,
    with_parameters_count: bool = True,
    with_pareto: bool = True,
    curves: bool = False,
) -> Report:
    """Everything a single-study report shows. ``top`` None or 0: every ranked trial."""
    snapshot = tr.load_study(tracking, name)
    study, records = snapshot.study, list(snapshot.trials)
    metric, mode = choose_metric(
        records, study=name, metric=metric, mode=mode, objective_metric=study.objective_metric, objective_mode=study.objective_mode
    )
    records, ranking = rank_study(tracking, snapshot, records, metric, mode, at=at, where=where)
    parameters = searched_parameters(study.spec_json, records)
    chosen = list(columns) if columns else _default_columns(parameters, metric, records)
    check_columns(chosen, records, metric)
    every_ranked = list(ranking.ranked)
    every_row = every_ranked + list(ranking.apart)  # every trial that --where kept
    baselines = baselines_from_metrics(study.metrics)
    best = ranking.best
    comparison = compare_with_baselines(baselines, metric, mode, best.record.label if best else None, best.value if best else None)
    if top:
        ranking = dataclasses.replace(ranking, ranked=ranking.ranked[:top])
    counts, parameter_source = _parameter_counts(tracking, ranking.ranked, snapshot.tags) if with_parameters_count and "parameters" in chosen else (None, "")
    report = Report(
        study=study,
        ranking=with_parameters(ranking, counts) if counts is not None else ranking,
        columns=chosen,
        parameters=parameters,
        trials=len(snapshot.trials),
        where=[c.text for c in where],
        notes=_value_notes(metric, at, study.objective_metric, chosen),
        parameter_source=parameter_source,
        records=records,
        all_ranked=every_ranked,
        baselines=baselines,
        baseline_comparison=comparison,
        spec_json=study.spec_json,
        data_leaks=data_leaks_from_metrics(study.metrics),
    )
    report.pareto = pareto(tracking, study, every_row, parameters) if with_pareto else None
    report.notes = [*(report.pareto.notes if report.pareto else []), *report.notes]
    _add_analyses(tracking, report, compare, with_significance=with_significance, with_importance=with_importance)
    if curves and report.ranking.ranked:
        _add_curves(tracking, report)
    return report


def _add_analyses(tracking, report: Report, compare: int, *, with_significance: bool, with_importance: bool) -> None:
    """Significance, the confirmed block, the test check and importance, as asked."""
    study, ranking = report.study, report.ranking
    full = dataclasses.replace(ranking, ranked=report.all_ranked)  # every ranked trial, before --top
    if with_significance:
        comparison = report.baseline_comparison
        report.significance = significance(tracking, study, ranking, compare, comparison.baseline if comparison else None)
        report.confirmed = confirmed(tracking, study, full)
        report.test_note = test_check(tracking, study, full)
    if with_importance:
        report.importances = importances(study, full, report.parameters, report.pareto)
        report.importance = next((i for i in report.importances if i.kind == "fANOVA" and i.metric == report.metric), report.importances[0])


def _add_curves(tracking, report: Report) -> None:
    """The learning curves (the ranking metric and both losses) of the top trials, for HTML."""
    shown = report.ranking.ranked[:CURVES]
    report.histories = tr.metric_histories(tracking, [row.record.run_id for row in shown], report.metric)
    for key in (TRAIN_LOSS, VALID_LOSS):
        logged = [row.record.run_id for row in shown if key in row.record.metrics]
        report.loss_histories[key] = tr.metric_histories(tracking, logged, key) if logged else {}


def _value_notes(metric: str, at: str, objective: Optional[str], columns: Sequence[str]) -> list[str]:
    """What the ranked values are, said under the table."""
    if at == "last":
        notes = [f"{metric}: the last logged value of each trial"]
    elif metric == objective:
        notes = [f"{metric}: each trial's best value, the one its logged checkpoint was scored with"]
    else:
        notes = [f"{metric}: each trial's best value in its history (the logged checkpoint is the best by {objective})"]
    if metric == "meteor" or "meteor" in columns:
        notes.append(METEOR_NOTE)
    return notes


# --- several studies side by side -------------------------------------------------------------


@dataclass
class StudyBest:
    study: StudyRecord
    metric: str
    mode: str
    best: Optional[Row]
    finished: int
    trials: int
    parameters: list[str]


def compare_studies(tracking, names: Sequence[str], *, metric: Optional[str] = None, mode: Optional[str] = None, at: str = "best") -> list[StudyBest]:
    """The best trial of each study by ``metric`` (default: each study's own objective)."""
    result = []
    for name in names:
        snapshot = tr.load_study(tracking, name)
        study, records = snapshot.study, list(snapshot.trials)
        chosen, chosen_mode = choose_metric(
            records, study=name, metric=metric, mode=mode, objective_metric=study.objective_metric, objective_mode=study.objective_mode
        )
        records, ranking = rank_study(tracking, snapshot, records, chosen, chosen_mode, at=at)
        result.append(
            StudyBest(
                study=study,
                metric=chosen,
                mode=chosen_mode,
                best=ranking.best,
                finished=sum(r.status is TrialStatus.FINISHED for r in records),
                trials=len(records),
                parameters=searched_parameters(study.spec_json, records),
            )
        )
    return result
