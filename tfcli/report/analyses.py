"""What a report shows beyond the ranking, each read from the store only when asked: the
test check of the validation winner, parameter counts, the confirmed block, significance,
importance and the Pareto front."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from tfcli import tracking as tr
from tfcli.metrics import MetricSettings
from tfcli.model.config import parameter_count
from tfcli.records import StudyRecord, TrialRecord, TrialStatus
from tfcli.report.confirmed import ConfirmedBlock, confirmed_block
from tfcli.report.importance import Importance, active_config, fanova, ped_anova, search_space, stored_spec
from tfcli.report.pareto import ParetoFront, ParetoPoint, objectives_of, pareto_front
from tfcli.report.ranking import Ranking, Row, is_finite, value_of
from tfcli.report.significance import Significance, compare_outputs, skipped, untestable_reason
from tfcli.report.values import value_at_step
from tfcli.spec.objective import Objective
from tfcli.tracking.baselines import baseline_outputs
from tfcli.tracking.test_scores import TEST_OUTPUTS_ARTIFACT, test_metric


def test_check(tracking, study: StudyRecord, ranking: Ranking) -> Optional[str]:
    """One line when the validation winner is not the best on test among the trials scored on
    test, with the paired bootstrap of the two on their test outputs; None otherwise."""
    key = test_metric(ranking.metric)
    scored = [row for row in ranking.ranked if key in row.record.metrics]
    if len(scored) < 2 or ranking.best is None or ranking.best not in scored:
        return None
    objective = Objective(key, ranking.mode)
    test_best = max(scored, key=lambda row: objective.score(row.record.metrics[key]))
    winner = ranking.best
    if test_best is winner or test_best.record.metrics[key] == winner.record.metrics[key]:
        return None
    with tempfile.TemporaryDirectory(prefix="tfcli-report-") as tmp:
        outputs = [
            _read_outputs(tr.download_run_artifact(tracking, row.record.run_id, TEST_OUTPUTS_ARTIFACT, Path(tmp) / row.record.run_id, artifact_uri=row.record.artifact_uri))
            for row in (test_best, winner)
        ]
    line = (
        f"the validation winner (trial {winner.record.label}) is not the test winner: trial {test_best.record.label} scores {key} "
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
    if study.spec_json:
        try:
            return MetricSettings.from_eval(json.loads(study.spec_json).get("eval"))
        except (ValueError, AttributeError, TypeError):
            pass
    return MetricSettings()


def _outputs(tracking, record: TrialRecord, tmp: Path) -> Optional[list[dict]]:
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


def pareto(tracking, study: StudyRecord, rows: Sequence[Row], parameters: Sequence[str]) -> Optional[ParetoFront]:
    """The Pareto front of a study with several objectives (None with one): each finished
    trial's point is every objective's value at its best checkpoint's step (from MLflow's
    metric history), else its last value; trials that failed, lack an objective or broke
    ``search.constraints`` are left out."""
    objectives = objectives_of(study.spec_json)
    if len(objectives) < 2:
        return None
    finished = [row for row in rows if row.record.status is TrialStatus.FINISHED and not row.record.error and row.record.feasible]
    infeasible = [row for row in rows if row.record.infeasible]
    kept = {id(row) for row in finished + infeasible}
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
    if infeasible:
        notes.append(f"left out of the Pareto front, as infeasible (search.constraints): trial{'s' if len(infeasible) > 1 else ''} {', '.join(r.record.label for r in infeasible)}")
    if missing:
        names = " and ".join(o.metric for o in objectives)
        notes.append(f"left out of the Pareto front, as missing a value of {names}: trial{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if fallback:
        notes.append(f"{fallback} value{'s' if fallback > 1 else ''} of the Pareto front {'are' if fallback > 1 else 'is'} the trial's last one, as none was logged at its best checkpoint's step")
    return pareto_front(objectives, points, notes)
