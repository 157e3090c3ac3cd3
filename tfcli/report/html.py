"""The HTML report: one self-contained page (plotly.js inlined) with the study's plots.

At the top, the best configuration (the best ranked trial's searched values), then the plots
(:mod:`.figures`). Below them any warning, the Pareto table, the ranking, the baselines, the
significance tests, the importances and the notes, as HTML tables.
"""

from __future__ import annotations

import html
from typing import Optional

from tfcli.report.build import Report
from tfcli.report.figures import (  # noqa: F401 - learning_curves ... validation_against_test: re-exported
    TOP_MARGIN,
    _active,
    confirmed_error_bars,
    figures,
    learning_curves,
    objective_by_trial,
    validation_against_test,
)
from tfcli.report.ranking import Row
from tfcli.report.render import display, header
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

def _table(headers, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
.plot { margin: 1em 0 2em; }
.note { color: #555; }
.warning { color: #a00; font-weight: bold; }
.caveat { color: #a00; }
.best { border: 1px solid #ccc; padding: 0.5em 1em; margin: 1em 0; background: #fafafa; }
"""


def _status(row: Row) -> str:
    """The word for a trial's state: ``stopped`` for one the scheduler stopped early."""
    return row.record.state.value


def _cells(row: Row, report: Report, active: dict) -> list[str]:
    """A ranking row; ``inactive`` for a parameter the trial's conditional search did not set."""
    config = active.get(row.record.run_id, {})
    return [
        _status(row) if c == "status" else "inactive" if c in report.parameters and c not in config else display(row, c, report.metric)
        for c in report.columns
    ]


def best_configuration(report: Report) -> str:
    """The panel of the best ranked trial: its value, step and searched configuration."""
    best = report.ranking.best
    if best is None:
        return '<div class="best"><h2>Best configuration</h2><p class="note">No trial has a finite value yet.</p></div>'
    config = _active(report, [best]).get(best.record.run_id, {})
    rows = [[name, display(best, name, report.metric) if name in config else "inactive (not set by this trial)"] for name in report.parameters]
    facts = (
        f"Trial {html.escape(best.record.label)} ({html.escape(best.trial_id)}, {html.escape(_status(best))}): "
        f"{html.escape(report.metric)} {html.escape(display(best, report.metric, report.metric))} at step {html.escape(str(best.step))}; "
        f"MLflow run {html.escape(best.record.run_id)}."
    )
    export = f"tfcli export {report.study.name} --out {report.study.name}-best"
    return (
        '<div class="best" id="best-configuration"><h2>Best configuration</h2>'
        f"<p>{facts}</p>{_table(['parameter', 'value'], rows) if rows else ''}"
        f'<p class="note">Export it with <code>{html.escape(export)}</code>.</p></div>'
    )


def _importance_sections(report: Report) -> list[str]:
    parts = []
    for imp in report.importances or ([report.importance] if report.importance else []):
        if imp.note:
            parts.append(f'<p class="note">Importance ({html.escape(imp.label)}): skipped: {html.escape(imp.note)}.</p>')
            continue
        parts.append(f"<h3>{html.escape(importance_title(imp))}</h3>")
        parts.append(_table(["parameter", "importance"], [[k, f"{v:.3f}"] for k, v in imp.importances.items()]))
        parts.append(f'<p class="note">{html.escape(imp.method)}.</p>')
        parts += [f'<p class="caveat">{html.escape(n)}</p>' for n in importance_notes(imp)]
    return parts


def render_html(report: Report, *, title: Optional[str] = None) -> str:
    """The whole page as a string (plotly.js inlined once, so it works offline)."""
    study = report.study
    title = title or f"tfcli report: {study.name}"
    objectives = (
        "objectives " + ", ".join(f"{html.escape(o.metric)} ({o.mode})" for o in report.pareto.objectives)
        if report.pareto is not None
        else f"objective {html.escape(str(study.objective_metric))} ({html.escape(str(study.objective_mode))})"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{report.trials} trials; task {html.escape(str(study.task))}; {objectives}; ranked by "
        f"{html.escape(report.metric)} ({report.mode}); study id {html.escape(study.study_id)}.</p>",
        *(f'<p class="warning">Warning: {html.escape(w)}.</p>' for w in report.warnings),
        best_configuration(report),
        *_plots(report),
        *_tables(report),
    ]
    notes = report.notes + ([report.parameter_source] if report.parameter_source else [])
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f'<li class="note">{html.escape(n)}</li>' for n in notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _plots(report: Report) -> list[str]:
    plots = []
    for i, (div_id, figure) in enumerate(figures(report)):
        if figure.layout.height is None:
            figure.update_layout(height=460)
        if figure.layout.margin.t is None:
            figure.update_layout(margin={"t": TOP_MARGIN})
        snippet = figure.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=div_id)
        plots.append(f'<div class="plot">{snippet}</div>')
    return plots


def _tables(report: Report) -> list[str]:
    """The Pareto table, the ranking, the baselines, the trials apart, significance, importance
    and the confirmed block."""
    parts = []
    if report.pareto is not None:
        parts.append(f"<h2>{html.escape(pareto_title(report))}</h2>")
        if report.pareto.points:
            parts.append(_table(pareto_headers(report), pareto_rows(report)))
        parts.append(f'<p class="note">{html.escape(hypervolume_line(report))}.</p>')
    active = _active(report, report.ranking.ranked)
    ranking = _table([header(c, report) for c in report.columns], [_cells(row, report, active) for row in report.ranking.ranked])
    parts += [f"<h2>Ranking by {html.escape(report.metric)}</h2>", ranking]
    if report.baselines:
        parts += [f"<h2>{html.escape(BASELINE_TITLE)}</h2>", _table(baseline_headers(report), baseline_rows(report))]
    if report.ranking.apart:
        parts += [
            f"<h2>{html.escape(apart_title(report))}</h2>",
            _table(
                ["trial", "status", "error", "infeasible"],
                [[r.record.label, r.record.state.value, r.record.error or "", r.record.infeasible or ""] for r in report.ranking.apart],
            ),
        ]
    parts += _significance_section(report)
    if report.importances or report.importance:
        parts.append("<h2>Hyperparameter importance</h2>")
        parts += _importance_sections(report)
    if report.confirmed is not None:
        parts += [
            f"<h2>{html.escape(confirmed_title(report))}</h2>",
            _table(CONFIRMED_HEADERS, confirmed_rows(report)),
            f'<p class="note">Verdict: {html.escape(report.confirmed.sentence())}.</p>',
        ]
    return parts


def _significance_section(report: Report) -> list[str]:
    s = report.significance
    if s is None:
        return []
    parts = [f"<h2>Significance ({html.escape(s.metric)}, paired bootstrap)</h2>"]
    if s.note:
        return parts + [f'<p class="note">Skipped: {html.escape(s.note)}.</p>']
    return parts + [
        _table(SIGNIFICANCE_HEADERS, significance_rows(report)),
        f'<p class="note">{s.examples} validation examples, {s.resamples} resamples; difference = top minus other. The test {html.escape(SCOPE)}.</p>',
    ]
