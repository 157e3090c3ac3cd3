"""Rendering a report as a Rich table, CSV, JSON or Markdown (HTML lives in :mod:`.html`).

* table: Rich tables on the terminal: the ranking, the trials listed apart, the baselines
  (rows apart from the ranking, never ranked), significance, importance, notes and warnings
  (the best trial below the best baseline);
* csv: one table of trials (ranked first, then the ones apart with an empty rank), raw
  numbers (``time_s`` in seconds) and nothing else, so any CSV reader takes it;
* json: one JSON document with everything;
* markdown: GitHub tables with headings, for pasting into an issue or a notebook.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Optional, Sequence

from rich.table import Table

from tfcli.report.build import Report
from tfcli.report.cells import _json_value, _md_table, fmt_count, fmt_duration, fmt_number
from tfcli.report.compare import compare_to_csv, compare_to_json, compare_to_markdown, print_compare  # noqa: F401 - the CLI's formats
from tfcli.report.importance import active_config, stored_spec
from tfcli.report.ranking import Row, cell
from tfcli.report.sections import (
    BASELINE_TITLE,
    CONFIRMED_HEADERS,
    SIGNIFICANCE_HEADERS,
    apart_title,
    baseline_headers,
    baseline_rows,
    confirmed_rows,
    confirmed_title,
    hypervolume_line,
    importance_notes,
    importance_title,
    pareto_headers,
    pareto_rows,
    pareto_title,
    significance_rows,
)
from tfcli.report.significance import SCOPE

FORMATS = ("table", "csv", "json", "markdown", "html")


# --- cells --------------------------------------------------------------------------------------


def display(row: Row, column: str, metric: str, inactive: bool = False) -> str:
    """A cell as text; ``inactive``: a searched parameter the trial's ``when:`` left unset."""
    if inactive:
        return "inactive"
    value = shown(row, column, metric)
    if column == "time":
        return fmt_duration(value)
    if column == "parameters":
        return fmt_count(value)
    return fmt_number(value)


def shown(row: Row, column: str, metric: str) -> Any:
    """:func:`cell`, with the trial's state word (``stopped``, ...) in the status column."""
    return row.record.state.value if column == "status" else cell(row, column, metric)


def header(column: str, report: Report) -> str:
    return column


def _apart_columns(report: Report) -> list[str]:
    """The columns of the trials apart: with the constraints a trial broke when one did."""
    columns = [c for c in report.columns if c not in ("rank", "status")]
    first = "trial" if "trial" not in columns else columns.pop(columns.index("trial"))
    return [first, "status", *columns, "error", *_infeasible_column(report)]


def _infeasible_column(report: Report) -> list[str]:
    """``["infeasible"]`` when a trial broke ``search.constraints``: what it broke, with the values."""
    rows = [*report.ranking.ranked, *report.ranking.apart]
    return ["infeasible"] if "infeasible" not in report.columns and any(row.record.infeasible for row in rows) else []


# --- json ---------------------------------------------------------------------------------------


def active_configs(report: Report, rows: Sequence[Row]) -> dict[str, dict]:
    """Each trial's searched values, without the parameters its conditional search left inactive."""
    spec = stored_spec(report.spec_json or report.study.spec_json)
    return {row.record.run_id: active_config(row.record.config, row.record.params, report.parameters, spec) for row in rows}


def is_inactive(report: Report, row: Row, column: str, active: dict[str, dict]) -> bool:
    """Whether ``column`` is a searched parameter that the trial's conditional search left
    inactive (see :func:`active_configs`): its params hold the study's default, which the
    trial kept but did not search, so a report shows no value there."""
    return column in report.parameters and column not in active.get(row.record.run_id, {})


def row_dict(row: Row, report: Report, active: Optional[dict] = None) -> dict:
    r = row.record
    config = active.get(r.run_id) if active is not None else None
    return {
        "rank": row.rank,
        "trial_id": r.trial_id,
        "number": r.number,
        "run_id": r.run_id,
        "status": r.status.value,
        "state": r.state.value,  # "stopped" for a trial the scheduler stopped early
        "value": _json_value(row.value),
        "step": row.step,
        "config": config if config is not None else {k: r.config.get(k, r.params.get(k)) for k in report.parameters},
        "duration_s": r.duration_s,
        "parameters": row.parameters,
        "stopped_early": r.stopped_early,
        "error": r.error,
        "infeasible": r.infeasible,
        "metrics": {k: _json_value(v) for k, v in sorted(r.metrics.items())},
        "cells": {
            c: None if active is not None and is_inactive(report, row, c, active) else _json_value(shown(row, c, report.metric))
            for c in report.columns
        },
    }


def to_json(report: Report) -> str:
    active = active_configs(report, [*report.ranking.ranked, *report.ranking.apart])
    payload = {
        "study": report.study.to_dict(),
        "metric": report.metric,
        "mode": report.mode,
        "at": report.ranking.at,
        "where": report.where,
        "trials": report.trials,
        "filtered_out": report.ranking.filtered_out,
        "columns": report.columns,
        "ranked": [row_dict(row, report, active) for row in report.ranking.ranked],
        "apart": [row_dict(row, report, active) for row in report.ranking.apart],
        "baselines": [b.to_dict() for b in report.baselines],
        "baseline_comparison": report.baseline_comparison.to_dict() if report.baseline_comparison else None,
        "significance": report.significance.to_dict() if report.significance else None,
        "confirmed": report.confirmed.to_dict() if report.confirmed else None,
        "test_note": report.test_note,
        "importance": report.importance.to_dict() if report.importance else None,
        "importances": [i.to_dict() for i in report.importances],
        "pareto": report.pareto.to_dict() if report.pareto else None,
        "notes": report.notes + ([report.parameter_source] if report.parameter_source else []),
        "warnings": report.warnings,
    }
    return json.dumps(payload, indent=2, default=str)


# --- csv ----------------------------------------------------------------------------------------


def to_csv(report: Report) -> str:
    columns = list(report.columns)
    if "status" not in columns:
        columns.append("status")
    columns += _infeasible_column(report)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["time_s" if c == "time" else c for c in columns])
    rows = report.ranking.ranked + report.ranking.apart
    active = active_configs(report, rows)
    for row in rows:
        writer.writerow([
            "" if is_inactive(report, row, c, active) or (v := _json_value(shown(row, c, report.metric))) is None else v
            for c in columns
        ])
    return buffer.getvalue()


# --- markdown -----------------------------------------------------------------------------------


def to_markdown(report: Report) -> str:
    study = report.study
    lines = [
        f"## Study {study.name}: trials ranked by {report.metric} ({report.mode})",
        "",
        f"{report.trials} trials; task {study.task}; objective {study.objective_metric} ({study.objective_mode})"
        + (f"; where {' and '.join(report.where)} ({report.ranking.filtered_out} filtered out)" if report.where else ""),
        "",
    ]
    if report.pareto is not None:
        lines += [f"### {pareto_title(report)}", ""]
        lines += _md_table(pareto_headers(report), pareto_rows(report)) if report.pareto.points else ["No trial has a value of every objective."]
        lines += ["", hypervolume_line(report) + ".", ""]
    active = active_configs(report, [*report.ranking.ranked, *report.ranking.apart])
    if report.ranking.ranked:
        lines += _md_table(
            [header(c, report) for c in report.columns],
            [[display(r, c, report.metric, is_inactive(report, r, c, active)) for c in report.columns] for r in report.ranking.ranked],
        )
    else:
        lines.append("No trial has a finite value yet.")
    if report.ranking.apart:
        columns = _apart_columns(report)
        lines += ["", f"### {apart_title(report)}", ""]
        lines += _md_table(columns, [[display(r, c, report.metric, is_inactive(report, r, c, active)) for c in columns] for r in report.ranking.apart])
    lines += _md_baselines(report)
    lines += ([""] + [f"**Warning:** {w}." for w in report.warnings]) if report.warnings else []
    s = report.significance
    if s is not None:
        lines += ["", f"### Significance ({s.metric}, paired bootstrap)", ""]
        if s.note:
            lines.append(f"Skipped: {s.note}.")
        else:
            lines += _md_table(SIGNIFICANCE_HEADERS, significance_rows(report))
            lines += ["", f"{s.examples} validation examples, {s.resamples} resamples; difference = top minus other."]
    for imp in report.importances or ([report.importance] if report.importance else []):
        lines += ["", f"### Hyperparameter importance ({imp.label})", ""]
        if imp.note:
            lines.append(f"Skipped: {imp.note}.")
        else:
            lines += _md_table(("parameter", "importance"), [[k, f"{v:.3f}"] for k, v in imp.importances.items()])
            lines += ["", f"Over {imp.trials} finished trials; {imp.method}."]
            lines += [f"{n}" for n in importance_notes(imp)]
    notes = report.notes + ([report.parameter_source] if report.parameter_source else [])
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _md_baselines(report: Report) -> list[str]:
    if not report.baselines:
        return []
    lines = ["", f"### {BASELINE_TITLE}", ""]
    return lines + _md_table(baseline_headers(report), baseline_rows(report))


# --- rich table ---------------------------------------------------------------------------------


def print_table(report: Report, console) -> None:
    """The report on the terminal: the ranking, then each section that has something to say."""
    _print_ranking(report, console)
    _print_baselines(report, console)
    for warning in report.warnings:
        console.print(f"Warning: {warning}.", markup=False)
    _print_significance(report, console)
    _print_confirmed(report, console)
    _print_importances(report, console)
    for note in report.notes + ([report.parameter_source] if report.parameter_source else []):
        console.print(f"Note: {note}")


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[str] = (), **options):
    table = Table(title=title, **options)
    for column in headers:
        table.add_column(column, justify="left" if column in left else "right")
    for values in rows:
        table.add_row(*values)
    return table


def _print_ranking(report: Report, console) -> None:
    study = report.study
    title = f"{study.name}: trials ranked by {report.metric} ({report.mode})"
    subtitle = f"{report.trials} trials, task {study.task}, objective {study.objective_metric} ({study.objective_mode})"
    if report.where:
        subtitle += f"; where {' and '.join(report.where)} ({report.ranking.filtered_out} filtered out)"
    if report.pareto is not None:
        _print_pareto(report, console)
    active = active_configs(report, [*report.ranking.ranked, *report.ranking.apart])

    def rows(columns, rows_):
        return [[display(row, c, report.metric, is_inactive(report, row, c, active)) for c in columns] for row in rows_]

    if report.ranking.ranked:
        headers = [header(column, report) for column in report.columns]
        console.print(_table(title, headers, rows(report.columns, report.ranking.ranked), left=("trial", "status", "run_id", "error"), caption=subtitle, show_lines=False))
    else:
        console.print(f"{title}: no trial has a finite value yet ({subtitle}).")
    if report.ranking.apart:
        columns = _apart_columns(report)
        console.print(_table(apart_title(report), columns, rows(columns, report.ranking.apart), left=columns))


def _print_baselines(report: Report, console) -> None:
    if report.baselines:
        console.print(_table(BASELINE_TITLE, baseline_headers(report), baseline_rows(report), left=("baseline",)))


def _print_significance(report: Report, console) -> None:
    s = report.significance
    if s is None:
        return
    if s.note:
        console.print(f"Significance: skipped: {s.note}.")
        return
    title = f"Significance: paired bootstrap on {s.metric}, {s.examples} examples, {s.resamples} resamples"
    console.print(_table(title, SIGNIFICANCE_HEADERS, significance_rows(report), left=SIGNIFICANCE_HEADERS))
    console.print(f"The paired bootstrap {SCOPE}.", markup=False)


def _print_confirmed(report: Report, console) -> None:
    if report.confirmed is not None:
        console.print(_table(confirmed_title(report), CONFIRMED_HEADERS, confirmed_rows(report), left=("configuration of",)))
        console.print(f"Verdict: {report.confirmed.sentence()}.", markup=False)


def _print_importances(report: Report, console) -> None:
    for imp in report.importances or ([report.importance] if report.importance else []):
        if imp.note:
            console.print(f"Importance ({imp.label}): skipped: {imp.note}.", markup=False)
            continue
        rows = [[name, f"{value:.3f}"] for name, value in imp.importances.items()]
        console.print(_table(importance_title(imp), ["parameter", "importance"], rows, left=("parameter",)))
        for note in importance_notes(imp):
            console.print(note, markup=False)


def _print_pareto(report: Report, console) -> None:
    if not report.pareto.points:
        console.print(f"{pareto_title(report)}: no trial has a value of every objective.", markup=False)
        return
    caption = "front 1: no other trial is at least as good in every objective and better in one"
    console.print(_table(pareto_title(report), pareto_headers(report), pareto_rows(report), left=("trial_id",), caption=caption))
    console.print(hypervolume_line(report) + ".", markup=False)
