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
import math
from typing import Any, Optional, Sequence

from tfcli.report.build import Report, StudyBest
from tfcli.report.importance import active_config, stored_spec
from tfcli.report.ranking import Row, cell
from tfcli.report.significance import SCOPE

FORMATS = ("table", "csv", "json", "markdown", "html")


# --- cells --------------------------------------------------------------------------------------


def fmt_number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3e}"
        if abs(value) < 1:
            return f"{value:.4g}"
        if abs(value) < 100:
            return f"{value:.4f}".rstrip("0").rstrip(".")
        return f"{value:.2f}"
    return str(value)


def fmt_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def fmt_count(count: Optional[int]) -> str:
    if count is None:
        return ""
    if count >= 1_000_000:
        return f"{count / 1e6:.2f}M"
    if count >= 10_000:
        return f"{count / 1e3:.1f}k"
    return str(count)


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
    columns = [c for c in report.columns if c not in ("rank", "status")]
    return ["trial" if "trial" not in columns else columns.pop(columns.index("trial")), "status", *columns, "error"]


# --- json ---------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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


# --- pareto and importance (every format) -------------------------------------------------------


def pareto_title(report: Report) -> str:
    p = report.pareto
    names = ", ".join(f"{o.metric} ({o.mode})" for o in p.objectives)
    return f"Pareto front: {names}; {len(p.front)} non-dominated of {len(p.points)} trials"


def pareto_headers(report: Report) -> list[str]:
    return ["front", "trial", *[o.metric for o in report.pareto.objectives], "step", "trial_id"]


def pareto_rows(report: Report) -> list[list[str]]:
    """Every point, the non-dominated ones (front 1) first."""
    return [
        [str(p.rank), str(p.number) if p.number is not None else p.trial_id, *[fmt_number(v) for v in p.values], fmt_number(p.step), p.trial_id]
        for p in report.pareto.points
    ]


def hypervolume_line(report: Report) -> str:
    p = report.pareto
    if p.hypervolume is None:
        return "Hypervolume: none (no trial has a value of every objective)"
    return f"Hypervolume of the first front: {p.hypervolume:.6g}, against the {p.reference_text()}"


def importance_title(imp) -> str:
    return f"Hyperparameter importance ({imp.label}) over {imp.trials} finished trials"


def importance_notes(imp) -> list[str]:
    """What goes under an importance table: the caveat, and what was left out."""
    notes = []
    if imp.caveat:
        notes.append(f"Caveat: {imp.caveat}.")
    if imp.inactive:
        notes.append(f"Left out of {imp.kind}, as inactive in some trials (the conditional search did not set them): {', '.join(imp.inactive)}.")
    return notes


# --- csv ----------------------------------------------------------------------------------------


def to_csv(report: Report) -> str:
    columns = list(report.columns)
    if "status" not in columns:
        columns.append("status")
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


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return lines


def _pair_label(top: str, other: str, rank) -> str:
    """``top vs other (#rank)``; a baseline has no rank."""
    return f"{top} vs {other}" + (f" (#{rank})" if rank is not None else "")


def significance_rows(report: Report) -> list[list[str]]:
    s = report.significance
    rows = []
    for t in s.tests if s else []:
        if t.note:
            rows.append([_pair_label(s.top_trial, t.other_trial, t.other_rank), "", "", "", "", t.note])
            continue
        rows.append(
            [
                _pair_label(s.top_trial, t.other_trial, t.other_rank),
                f"{fmt_number(t.score_top)} vs {fmt_number(t.score_other)}",
                fmt_number(t.diff),
                f"[{fmt_number(t.ci_low)}, {fmt_number(t.ci_high)}]",
                f"{t.p_value:.4f}",
                "yes" if t.significant else "no",
            ]
        )
    return rows


CONFIRMED_HEADERS = ("configuration of", "seeds", "valid mean ± sd", "valid 95% CI", "test mean ± sd", "winner vs it: Welch p", "two-level bootstrap p")


def confirmed_title(report: Report) -> str:
    return f"Confirmed across seeds: {report.confirmed.metric} ({report.confirmed.mode}), winner {report.confirmed.winner}"


def _mean_sd(summary) -> str:
    return f"{fmt_number(summary.mean)} ± {fmt_number(summary.std)}" if summary is not None else ""


def confirmed_rows(report: Report) -> list[list[str]]:
    block = report.confirmed
    tests = {c.other: c for c in block.comparisons}
    rows = []
    for config in block.configs:
        test = tests.get(config.trial_id)
        welch = f"{test.welch['p_value']:.4f}" if test else ("(the winner)" if config.trial_id == block.winner else "")
        boot = f"{test.bootstrap['p_value']:.4f}" if test and test.bootstrap else (test.note if test and test.note else "")
        rows.append([
            config.trial_id, str(len(config.seeds)), _mean_sd(config.valid),
            f"[{fmt_number(config.valid.ci_low)}, {fmt_number(config.valid.ci_high)}]", _mean_sd(config.test), welch, boot,
        ])
    return rows


SIGNIFICANCE_HEADERS = ("top vs other", "scores", "difference", "95% CI", "p-value", "significant (p < 0.05)")

BASELINE_TITLE = "Baselines (not ranked; the same splits and metric code as the trials)"


def baseline_headers(report: Report) -> list[str]:
    return ["baseline", f"{report.metric} (valid)", f"{report.metric} (test)", "best trial's margin (+: better)"]


def baseline_rows(report: Report) -> list[list[str]]:
    """One row per baseline: its value of the ranking metric on valid and test, and how far the
    best trial is above it (in the direction of the mode: positive is better)."""
    rows = []
    best = report.ranking.best
    for name in dict.fromkeys(b.name for b in report.baselines):
        scores = {b.split: b.metrics.get(report.metric) for b in report.baselines if b.name == name}
        valid = scores.get("valid")
        margin = ""
        if best is not None and valid is not None and best.value is not None:
            diff = best.value - valid
            margin = fmt_number(diff if report.mode == "max" else -diff)
        rows.append([name, fmt_number(valid), fmt_number(scores.get("test")), margin])
    return rows


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
        lines += ["", "### Failed, killed and without a value", ""]
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
    from rich.table import Table

    study = report.study
    title = f"{study.name}: trials ranked by {report.metric} ({report.mode})"
    subtitle = f"{report.trials} trials, task {study.task}, objective {study.objective_metric} ({study.objective_mode})"
    if report.where:
        subtitle += f"; where {' and '.join(report.where)} ({report.ranking.filtered_out} filtered out)"
    if report.pareto is not None:
        _print_pareto(report, console)
    table = Table(title=title, caption=subtitle, show_lines=False)
    for column in report.columns:
        table.add_column(header(column, report), justify="right" if column not in ("trial", "status", "run_id", "error") else "left")
    active = active_configs(report, [*report.ranking.ranked, *report.ranking.apart])
    for row in report.ranking.ranked:
        table.add_row(*(display(row, c, report.metric, is_inactive(report, row, c, active)) for c in report.columns))
    if report.ranking.ranked:
        console.print(table)
    else:
        console.print(f"{title}: no trial has a finite value yet ({subtitle}).")
    if report.ranking.apart:
        columns = _apart_columns(report)
        apart = Table(title="Failed, killed and without a value")
        for column in columns:
            apart.add_column(column)
        for row in report.ranking.apart:
            apart.add_row(*(display(row, c, report.metric, is_inactive(report, row, c, active)) for c in columns))
        console.print(apart)
    if report.baselines:
        baselines = Table(title=BASELINE_TITLE)
        for column in baseline_headers(report):
            baselines.add_column(column, justify="left" if column == "baseline" else "right")
        for values in baseline_rows(report):
            baselines.add_row(*values)
        console.print(baselines)
    for warning in report.warnings:
        console.print(f"Warning: {warning}.", markup=False)
    s = report.significance
    if s is not None:
        if s.note:
            console.print(f"Significance: skipped: {s.note}.")
        else:
            sig = Table(title=f"Significance: paired bootstrap on {s.metric}, {s.examples} examples, {s.resamples} resamples")
            for column in SIGNIFICANCE_HEADERS:
                sig.add_column(column)
            for values in significance_rows(report):
                sig.add_row(*values)
            console.print(sig)
            console.print(f"The paired bootstrap {SCOPE}.", markup=False)
    if report.confirmed is not None:
        table = Table(title=confirmed_title(report))
        for column in CONFIRMED_HEADERS:
            table.add_column(column, justify="left" if column == "configuration of" else "right")
        for values in confirmed_rows(report):
            table.add_row(*values)
        console.print(table)
        console.print(f"Verdict: {report.confirmed.sentence()}.", markup=False)
    for imp in report.importances or ([report.importance] if report.importance else []):
        if imp.note:
            console.print(f"Importance ({imp.label}): skipped: {imp.note}.", markup=False)
        else:
            table = Table(title=importance_title(imp))
            table.add_column("parameter")
            table.add_column("importance", justify="right")
            for name, value in imp.importances.items():
                table.add_row(name, f"{value:.3f}")
            console.print(table)
            for note in importance_notes(imp):
                console.print(note, markup=False)
    for note in report.notes + ([report.parameter_source] if report.parameter_source else []):
        console.print(f"Note: {note}")


def _print_pareto(report: Report, console) -> None:
    from rich.table import Table

    if not report.pareto.points:
        console.print(f"{pareto_title(report)}: no trial has a value of every objective.", markup=False)
        return
    table = Table(title=pareto_title(report), caption="front 1: no other trial is at least as good in every objective and better in one")
    for column in pareto_headers(report):
        table.add_column(column, justify="left" if column == "trial_id" else "right")
    for values in pareto_rows(report):
        table.add_row(*values)
    console.print(table)
    console.print(hypervolume_line(report) + ".", markup=False)


# --- several studies ----------------------------------------------------------------------------


def compare_columns(bests: Sequence[StudyBest]) -> list[str]:
    params: list[str] = []
    for b in bests:
        params += [p for p in b.parameters if p not in params]
    return ["study", "task", "metric", "mode", "best", "trial", "step", "finished", *params]


def compare_cells(best: StudyBest, columns: Sequence[str]) -> dict[str, Any]:
    row = best.best
    values: dict[str, Any] = {
        "study": best.study.name,
        "task": best.study.task,
        "metric": best.metric,
        "mode": best.mode,
        "best": _json_value(row.value) if row else None,
        "trial": row.trial_id if row else None,
        "step": row.step if row else None,
        "finished": f"{best.finished}/{best.trials}",
    }
    for column in columns[8:]:
        values[column] = (row.record.config.get(column, row.record.params.get(column)) if row else None)
    return values


def compare_to_json(bests: Sequence[StudyBest]) -> str:
    payload = {
        "studies": [
            {
                "study": b.study.to_dict(),
                "metric": b.metric,
                "mode": b.mode,
                "finished": b.finished,
                "trials": b.trials,
                "best": None
                if b.best is None
                else {
                    "trial_id": b.best.trial_id,
                    "run_id": b.best.record.run_id,
                    "value": _json_value(b.best.value),
                    "step": b.best.step,
                    "config": {p: b.best.record.config.get(p, b.best.record.params.get(p)) for p in b.parameters},
                },
            }
            for b in bests
        ]
    }
    return json.dumps(payload, indent=2, default=str)


def compare_to_csv(bests: Sequence[StudyBest]) -> str:
    columns = compare_columns(bests)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for b in bests:
        values = compare_cells(b, columns)
        writer.writerow(["" if values[c] is None else values[c] for c in columns])
    return buffer.getvalue()


def compare_to_markdown(bests: Sequence[StudyBest]) -> str:
    columns = compare_columns(bests)
    rows = [[fmt_number(compare_cells(b, columns)[c]) for c in columns] for b in bests]
    return "\n".join([f"## Studies compared: {', '.join(b.study.name for b in bests)}", "", *_md_table(columns, rows)]) + "\n"


def print_compare(bests: Sequence[StudyBest], console) -> None:
    from rich.table import Table

    columns = compare_columns(bests)
    table = Table(title="Best trial of each study")
    for column in columns:
        table.add_column(column)
    for b in bests:
        values = compare_cells(b, columns)
        table.add_row(*(fmt_number(values[c]) for c in columns))
    console.print(table)
