"""Building a report from the tracking store: what ``tfcli report`` computes before rendering.

Reads: one :func:`tfcli.tracking.load_study` (a few paged searches, no metric history; the
baselines come with it, as the parent run's metrics), then only what the options ask for:
the history of a non-objective ranking metric (``at="best"``), the checkpoint configs of the
shown trials that lack a parameter count, the validation outputs of the trials (and of the
best baseline) under test, and for HTML the learning curves of the top trials.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from tfcli.baselines.results import BaselineResult
from tfcli.records import StudyRecord, TrialRecord, TrialStatus
from tfcli.spec.objective import choose_metric
from tfcli.tracking.baselines import baseline_outputs, baselines_from_metrics
from tfcli.tracking.reading import with_history
from tfcli.report.baselines import BaselineComparison, compare_with_baselines
from tfcli.report.importance import Importance, active_config, fanova, ped_anova, search_space, stored_spec
from tfcli.report.pareto import ParetoFront, ParetoPoint, objectives_of, pareto_front
from tfcli.report.ranking import (
    Condition,
    Ranking,
    Row,
    check_columns,
    is_finite,
    rank_trials,
    value_of,
    searched_parameters,
    with_parameters,
)
from tfcli.report.confirmed import ConfirmedBlock, confirmed_block
from tfcli.tracking.test_scores import TEST_OUTPUTS_ARTIFACT, test_metric
from tfcli.report.significance import Significance, compare_outputs, skipped, untestable_reason

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

    @property
    def metric(self) -> str:
        return self.ranking.metric

    @property
    def warnings(self) -> list[str]:
        """One line each: what the reader should not miss (a study below its baseline, a
        validation winner that is not the test winner)."""
        line = self.baseline_comparison.warning() if self.baseline_comparison else None
        return [w for w in (line, self.test_note) if w]

    @property
    def mode(self) -> str:
        return self.ranking.mode


def objective_from_history(tracking, records: Sequence[TrialRecord], tags: dict, metric: str) -> list[TrialRecord]:
    """Trials without the ``tfcli.objective_value`` tag (still running, or ended without a
    checkpoint) get the objective's best value and step from its history, not its last value."""
    from tfcli import tracking as tr

    untagged = {r.run_id for r in records if tr.TAG_OBJECTIVE_VALUE not in tags.get(r.run_id, {}) and metric in r.metrics}
    if not untagged:
        return list(records)
    out = []
    for record in with_history(tracking, records, metric, only=untagged):
        best = record.best.get(metric) if record.run_id in untagged else None
        out.append(dataclasses.replace(record, objective_value=best.value, objective_step=best.step) if best else record)
    return out


def with_best_values(tracking, snapshot, records: Sequence[TrialRecord], metric: str, at: str) -> list[TrialRecord]:
    """``records`` ready to rank by ``metric`` at ``at``: for ``best``, each trial's best value
    (the objective's from its tags or history, any other metric's from its history)."""
    if at != "best":
        return list(records)
    if metric != snapshot.study.objective_metric:
        return with_history(tracking, records, metric)
    return objective_from_history(tracking, records, snapshot.tags, metric)


def _default_columns(parameters: Sequence[str], metric: str, records: Sequence[TrialRecord] = ()) -> list[str]:
    """The report's columns; ``test/<metric>`` beside the metric once test scores exist."""
    test = [test_metric(metric)] if any(test_metric(metric) in r.metrics for r in records) else []
    return ["rank", "trial", metric, *test, "step", *parameters, "time", "parameters", "status"]


def test_check(tracking, study: StudyRecord, ranking: Ranking) -> Optional[str]:
    """One line when the validation winner is not the best on test among the trials scored on
    test, with the paired bootstrap of the two on their test outputs; None otherwise."""
    from tfcli import tracking as tr

    key = test_metric(ranking.metric)
    scored = [row for row in ranking.ranked if key in row.record.metrics]
    if len(scored) < 2 or ranking.best is None or ranking.best not in scored:
        return None
    sign = 1.0 if ranking.mode == "max" else -1.0
    test_best = max(scored, key=lambda row: sign * row.record.metrics[key])
    winner = ranking.best
    if test_best is winner or test_best.record.metrics[key] == winner.record.metrics[key]:
        return None
    with tempfile.TemporaryDirectory(prefix="tfcli-report-") as tmp:
        outputs = [
            _read_outputs(tr.download_run_artifact(tracking, row.record.run_id, TEST_OUTPUTS_ARTIFACT, Path(tmp) / row.record.run_id, artifact_uri=row.record.artifact_uri))
            for row in (test_best, winner)
        ]
    line = (
        f"the validation winner {winner.trial_id} is not the test winner: {test_best.trial_id} scores {key} "
        f"{test_best.record.metrics[key]:.4g} against {winner.record.metrics[key]:.4g}"
    )
    if not all(outputs) or untestable_reason(study.task, ranking.metric):
        return line + " (no paired test: test outputs missing)"
    result = compare_outputs(study.task, ranking.metric, (test_best.trial_id, outputs[0]), [(winner.trial_id, winner.rank, outputs[1])], _settings(study))
    pair = result.tests[0] if result.tests else None
    if pair is None or pair.note:
        return line + f" (no paired test: {pair.note if pair else result.note})"
    verdict = "significant" if pair.significant else "not significant"
    return line + f"; paired bootstrap on the test outputs: p = {pair.p_value:.4f}, {verdict}"


def _read_outputs(path: Optional[Path]) -> Optional[list[dict]]:
    if path is None or not path.is_file():
        return None
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _parameter_counts(tracking, rows: Sequence[Row], tags: dict) -> tuple[dict[str, Optional[int]], str]:
    """Parameter counts of ``rows`` (by run id) and a note on where they came from.

    A run's ``tfcli.parameters`` tag when it has one (study trials do not). Otherwise the count
    follows from the architecture (:func:`tfcli.model.config.parameter_count`): the trial's
    ``model.*`` params, plus the vocabulary size and label count, which depend only on the
    data settings and are read from one ``checkpoint/config.json`` per distinct ``data.*``
    setting. Trials of a data setting without any checkpoint stay blank.
    """
    from tfcli import tracking as tr
    from tfcli.model.config import parameter_count

    counts: dict[str, Optional[int]] = {}
    sources = set()
    pending: dict[tuple, list[Row]] = {}
    for row in rows:
        run_id = row.record.run_id
        tag = tags.get(run_id, {}).get(tr.TAG_PARAMETERS)
        try:
            counts[run_id] = int(float(tag)) if tag not in (None, "") else None
        except ValueError:
            counts[run_id] = None
        if counts[run_id] is not None:
            sources.add("tag")
            continue
        key = tuple(sorted((k, str(v)) for k, v in row.record.params.items() if k.startswith("data.")))
        pending.setdefault(key, []).append(row)
    with tempfile.TemporaryDirectory(prefix="tfcli-report-") as tmp:
        for group in pending.values():
            base = None
            for row in group:
                if not row.record.has_checkpoint:
                    continue
                path = tr.download_run_artifact(
                    tracking, row.record.run_id, f"{tr.CHECKPOINT_ARTIFACT_PATH}/config.json", Path(tmp) / row.record.run_id,
                    artifact_uri=row.record.artifact_uri,
                )
                try:
                    base = json.loads(path.read_text(encoding="utf-8")).get("model") if path is not None else None
                except ValueError:
                    base = None
                if base:
                    break
            if not base:
                continue
            for row in group:
                model = {k[len("model."):]: v for k, v in row.record.params.items() if k.startswith("model.")}
                counts[row.record.run_id] = parameter_count({**base, **model})
                sources.add("architecture")
    text = {
        frozenset(): "",
        frozenset({"tag"}): "parameters: the model size each run recorded",
        frozenset({"architecture"}): "parameters: counted from each trial's model settings and the vocabulary size of its data settings",
        frozenset({"tag", "architecture"}): "parameters: the model size a run recorded, else counted from its model settings and vocabulary size",
    }[frozenset(sources)]
    return counts, text


def confirmed(tracking, study: StudyRecord, ranking: Ranking) -> Optional[ConfirmedBlock]:
    """The confirmed block (:mod:`tfcli.report.confirmed`), with the two-level bootstrap over
    the confirmation runs' validation outputs; None before ``tfcli study confirm``."""
    from tfcli import tracking as tr

    runs = tr.confirmation_records(tracking, study.name)
    if not runs or ranking.best is None:
        return None
    with tempfile.TemporaryDirectory(prefix="tfcli-report-") as tmp:
        return confirmed_block(
            runs,
            winner=ranking.best.trial_id,
            metric=ranking.metric,
            mode=ranking.mode,
            task=study.task,
            outputs_of=lambda c: _outputs(tracking, c.record, Path(tmp)),
            settings=_settings(study),
        )


def _settings(study: StudyRecord):
    """The metric settings of the study's ``eval`` section (defaults when it cannot be read)."""
    from tfcli.metrics import MetricSettings

    if study.spec_json:
        try:
            return MetricSettings.from_eval(json.loads(study.spec_json).get("eval"))
        except (ValueError, AttributeError, TypeError):
            pass
    return MetricSettings()


def _outputs(tracking, record: TrialRecord, tmp: Path) -> Optional[list[dict]]:
    from tfcli import tracking as tr

    if not record.has_checkpoint:
        return None
    path = tr.download_run_artifact(
        tracking, record.run_id, f"{tr.CHECKPOINT_ARTIFACT_PATH}/{tr.VALID_OUTPUTS_FILE}", tmp / record.run_id, artifact_uri=record.artifact_uri
    )
    return _read_outputs(path)


#: How the best baseline is named in the significance table.
BASELINE_LABEL = "baseline "


def significance(tracking, study: StudyRecord, ranking: Ranking, compare: int, baseline: Optional[str] = None) -> Significance:
    """The top trial against the next ``compare`` ranked trials on their validation outputs,
    and against the baseline ``baseline`` when its outputs were logged on the parent run."""
    metric = ranking.metric
    reason = untestable_reason(study.task, metric)
    if reason:
        return skipped(metric, reason)
    if len(ranking.ranked) < (1 if baseline else 2):
        return skipped(metric, f"a paired test needs two ranked trials, but there {'is' if len(ranking.ranked) == 1 else 'are'} {len(ranking.ranked)}")
    settings = _settings(study)
    top = ranking.ranked[0]
    others = ranking.ranked[1 : 1 + max(0, compare)]
    with tempfile.TemporaryDirectory(prefix="tfcli-report-") as tmp:
        folder = Path(tmp)
        top_outputs = _outputs(tracking, top.record, folder)
        if not top_outputs:
            return skipped(metric, f"the top trial {top.trial_id} has no saved validation outputs (its checkpoint was logged without them)", top.trial_id)
        pairs = [(row.trial_id, row.rank, _outputs(tracking, row.record, folder)) for row in others]
        if baseline:
            outputs = baseline_outputs(tracking, study.run_id, baseline, folder / "baselines", artifact_uri=study.artifact_uri)
            pairs.append((f"{BASELINE_LABEL}{baseline}", None, outputs))
    return compare_outputs(study.task, metric, (top.trial_id, top_outputs), pairs, settings)


def importance(study: StudyRecord, ranking: Ranking, parameters: Sequence[str]) -> Importance:
    """fANOVA for the ranking metric over the finished ranked trials (their active parameters)."""
    points = [(config, row.value) for row, config in _finished_configs(study, ranking.ranked, parameters)]
    return fanova(points, list(parameters), search_space(study.spec_json), ranking.mode, ranking.metric)


def _finished_configs(study: StudyRecord, rows: Sequence[Row], parameters: Sequence[str]) -> list[tuple[Row, dict]]:
    spec = stored_spec(study.spec_json)
    return [
        (row, active_config(row.record.config, row.record.params, parameters, spec))
        for row in rows
        if row.record.status is TrialStatus.FINISHED and not row.record.error
    ]


def importances(
    study: StudyRecord, ranking: Ranking, parameters: Sequence[str], pareto: Optional[ParetoFront] = None
) -> list[Importance]:
    """fANOVA and PED-ANOVA, each over the finished trials' active parameters: for the ranking
    metric, or, with several objectives (``pareto``), for each objective at the trials' points."""
    space = search_space(study.spec_json)
    configs = _finished_configs(study, ranking.ranked, parameters)
    out = []
    if pareto is None or not pareto.objectives:
        points = [(config, row.value) for row, config in configs]
        out.append(fanova(points, list(parameters), space, ranking.mode, ranking.metric))
        out.append(ped_anova(points, list(parameters), space, ranking.mode, ranking.metric))
        return out
    by_run = {p.run_id: p for p in pareto.points}
    for k, objective in enumerate(pareto.objectives):
        points = [(config, by_run[row.record.run_id].values[k]) for row, config in configs if row.record.run_id in by_run]
        out.append(fanova(points, list(parameters), space, objective.mode, objective.metric))
        out.append(ped_anova(points, list(parameters), space, objective.mode, objective.metric))
    return out


def value_at_step(points: Sequence[tuple[int, float]], step: Optional[int]) -> Optional[float]:
    """The value logged at ``step`` (the last one logged there), or None."""
    found = None
    for s, v in points:
        if step is not None and s == step:
            found = v
    return found


def pareto(tracking, study: StudyRecord, rows: Sequence[Row], parameters: Sequence[str]) -> Optional[ParetoFront]:
    """The Pareto front of a study with several objectives (None with one): each finished
    trial's point is every objective's value at its best checkpoint's step (from MLflow's
    metric history), else its last value; trials that failed or lack an objective are left out."""
    from tfcli import tracking as tr

    objectives = objectives_of(study.spec_json)
    if len(objectives) < 2:
        return None
    finished = [row for row in rows if row.record.status is TrialStatus.FINISHED and not row.record.error]
    kept = {id(row) for row in finished}
    unfinished = [row for row in rows if id(row) not in kept]
    histories = {o.metric: tr.metric_histories(tracking, [r.record.run_id for r in finished if o.metric in r.record.metrics], o.metric) for o in objectives[1:]}
    spec = stored_spec(study.spec_json)
    points, missing, fallback = [], [], 0
    for row in finished:
        record = row.record
        first = value_of(record, objectives[0].metric, "best")
        values = [first.value]
        step = first.step if first.value is not None else record.objective_step
        for objective in objectives[1:]:
            value = value_at_step(histories[objective.metric].get(record.run_id) or (), step)
            if value is None:
                value = record.metrics.get(objective.metric)
                fallback += value is not None
            values.append(value)
        if not all(is_finite(v) for v in values):
            missing.append(record.label)
            continue
        config = active_config(record.config, record.params, parameters, spec)
        points.append(ParetoPoint(record.number, record.trial_id, record.run_id, tuple(float(v) for v in values), step, 0, config))
    notes = []
    if unfinished:
        notes.append(f"left out of the Pareto front, as not finished or failed: trial{'s' if len(unfinished) > 1 else ''} {', '.join(r.record.label for r in unfinished)}")
    if missing:
        names = " and ".join(o.metric for o in objectives)
        notes.append(f"left out of the Pareto front, as missing a value of {names}: trial{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if fallback:
        notes.append(f"{fallback} value{'s' if fallback > 1 else ''} of the Pareto front {'are' if fallback > 1 else 'is'} the trial's last one, as none was logged at its best checkpoint's step")
    return pareto_front(objectives, points, notes)


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
    from tfcli import tracking as tr

    snapshot = tr.load_study(tracking, name)
    study, records = snapshot.study, list(snapshot.trials)
    metric, mode = choose_metric(
        records, study=name, metric=metric, mode=mode, objective_metric=study.objective_metric, objective_mode=study.objective_mode
    )
    records = with_best_values(tracking, snapshot, records, metric, at)
    ranking = rank_trials(records, metric, mode, at=at, where=where)
    parameters = searched_parameters(study.spec_json, records)
    chosen = list(columns) if columns else _default_columns(parameters, metric, records)
    check_columns(chosen, records, metric)
    every_ranked = list(ranking.ranked)
    every_row = every_ranked + list(ranking.apart)  # every trial that --where kept
    baselines = baselines_from_metrics(study.metrics)
    best = ranking.best
    comparison = compare_with_baselines(baselines, metric, mode, best.trial_id if best else None, best.value if best else None)
    if top:
        ranking = dataclasses.replace(ranking, ranked=ranking.ranked[:top])
    parameter_source = ""
    if with_parameters_count and "parameters" in chosen:
        counts, parameter_source = _parameter_counts(tracking, ranking.ranked, snapshot.tags)
        ranking = with_parameters(ranking, counts)
    report = Report(
        study=study,
        ranking=ranking,
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
    )
    report.pareto = pareto(tracking, study, every_row, parameters) if with_pareto else None
    if report.pareto is not None:
        report.notes = [*report.pareto.notes, *report.notes]
    if with_significance:
        report.significance = significance(tracking, study, ranking, compare, comparison.baseline if comparison else None)
    if with_significance:
        full = dataclasses.replace(ranking, ranked=every_ranked)
        report.confirmed = confirmed(tracking, study, full)
        report.test_note = test_check(tracking, study, full)
    if with_importance:
        full = dataclasses.replace(ranking, ranked=every_ranked)  # importance sees every ranked trial
        report.importances = importances(study, full, parameters, report.pareto)
        report.importance = next((i for i in report.importances if i.kind == "fANOVA" and i.metric == metric), report.importances[0])
    if curves and ranking.ranked:
        shown = [row.record.run_id for row in ranking.ranked[:CURVES]]
        report.histories = tr.metric_histories(tracking, shown, metric)
        for key in (TRAIN_LOSS, VALID_LOSS):
            logged = [row.record.run_id for row in ranking.ranked[:CURVES] if key in row.record.metrics]
            report.loss_histories[key] = tr.metric_histories(tracking, logged, key) if logged else {}
    return report


def _value_notes(metric: str, at: str, objective: Optional[str], columns: Sequence[str]) -> list[str]:
    """What the ranked values are, said under the table."""
    if at == "last":
        notes = [f"{metric}: the last logged value of each trial"]
    elif metric == objective:
        notes = [f"{metric}: each trial's best value, the one its logged checkpoint was scored with"]
    else:
        notes = [f"{metric}: each trial's best value in its history (the logged checkpoint is the best by {objective})"]
    if metric == "meteor" or "meteor" in columns:
        from tfcli.metrics import METEOR_NOTE

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
    from tfcli import tracking as tr

    result = []
    for name in names:
        snapshot = tr.load_study(tracking, name)
        study, records = snapshot.study, list(snapshot.trials)
        chosen, chosen_mode = choose_metric(
            records, study=name, metric=metric, mode=mode, objective_metric=study.objective_metric, objective_mode=study.objective_mode
        )
        records = with_best_values(tracking, snapshot, records, chosen, at)
        ranking = rank_trials(records, chosen, chosen_mode, at=at)
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
