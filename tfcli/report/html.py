"""The HTML report: one self-contained page (plotly.js inlined) with the study's plots.

Plots: learning curves of the top trials (the ranking metric's history from MLflow),
parallel coordinates of the searched parameters against the metric, hyperparameter
importance, and the metric by trial in start order with the best so far; the baselines'
validation values are dashed lines on the learning curves and the metric by trial. Below them
any warning, the ranking, the baselines, the significance tests and the notes, as HTML tables.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Optional

from tfcli.report.build import Report
from tfcli.report.ranking import Row
from tfcli.report.render import (
    BASELINE_TITLE,
    CONFIRMED_HEADERS,
    SIGNIFICANCE_HEADERS,
    baseline_headers,
    baseline_rows,
    confirmed_rows,
    confirmed_title,
    display,
    header,
    significance_rows,
)
from tfcli.report.significance import SCOPE


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def baseline_lines(report: Report, figure) -> None:
    """A dashed horizontal line at each baseline's validation value of the ranking metric."""
    for baseline in report.baselines:
        value = baseline.metrics.get(report.metric)
        if baseline.split != "valid" or not _finite(value):
            continue
        figure.add_hline(
            y=value, line_dash="dash", line_color="gray", annotation_text=f"baseline {baseline.name}", annotation_position="top left"
        )


def learning_curves(report: Report):
    import plotly.graph_objects as go

    figure = go.Figure()
    for row in report.ranking.ranked:
        points = report.histories.get(row.record.run_id)
        if not points:
            continue
        figure.add_trace(
            go.Scatter(
                x=[s for s, _ in points],
                y=[v if _finite(v) else None for _, v in points],
                mode="lines+markers",
                name=f"#{row.rank} {row.trial_id}",
            )
        )
    baseline_lines(report, figure)
    figure.update_layout(title=f"Learning curves of the top trials: {report.metric}", xaxis_title="step", yaxis_title=report.metric)
    return figure


def parallel_coordinates(report: Report):
    import plotly.graph_objects as go

    rows = list(report.all_ranked or report.ranking.ranked)  # every ranked trial, not only --top
    dimensions = []
    for name in report.parameters:
        values = [row.record.config.get(name, row.record.params.get(name)) for row in rows]
        if all(_finite(v) for v in values) and values:
            dimensions.append({"label": name, "values": [float(v) for v in values]})
        else:
            labels = sorted({json.dumps(v) if not isinstance(v, str) else v for v in values})
            index = {label: i for i, label in enumerate(labels)}
            keyed = [index[json.dumps(v) if not isinstance(v, str) else v] for v in values]
            dimensions.append({"label": name, "values": keyed, "tickvals": list(range(len(labels))), "ticktext": labels})
    metric_values = [float(row.value) for row in rows]
    dimensions.append({"label": report.metric, "values": metric_values})
    figure = go.Figure(
        go.Parcoords(
            line={"color": metric_values, "colorscale": "Viridis", "showscale": True, "reversescale": report.mode == "min"},
            dimensions=dimensions,
        )
    )
    figure.update_layout(title=f"Parallel coordinates: searched parameters and {report.metric} ({len(rows)} ranked trials)")
    return figure


def importance_bars(report: Report):
    import plotly.graph_objects as go

    imp = report.importance
    figure = go.Figure()
    if imp is not None and imp.importances:
        names = list(imp.importances)[::-1]
        figure.add_trace(go.Bar(x=[imp.importances[n] for n in names], y=names, orientation="h"))
        title = f"Hyperparameter importance (fANOVA over {imp.trials} finished trials)"
    else:
        title = f"Hyperparameter importance: skipped ({imp.note if imp else 'not computed'})"
    figure.update_layout(title=title, xaxis_title="importance")
    return figure


def objective_by_trial(report: Report):
    import plotly.graph_objects as go

    rows: list[Row] = sorted(report.all_ranked or report.ranking.ranked, key=lambda r: (r.record.start_time is None, r.record.start_time or 0, r.trial_id))
    x = [row.record.number if row.record.number is not None else index for index, row in enumerate(rows)]
    y = [row.value for row in rows]
    best, running = [], None
    for value in y:
        if running is None or (value > running if report.mode == "max" else value < running):
            running = value
        best.append(running)
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=x, y=y, mode="markers", name=report.metric, text=[r.trial_id for r in rows]))
    if len(rows) <= 30:
        figure.update_xaxes(tickmode="linear", dtick=1)  # whole trial numbers, no 1.5
    figure.add_trace(go.Scatter(x=x, y=best, mode="lines", name="best so far", line={"shape": "hv"}))
    baseline_lines(report, figure)
    figure.update_layout(title=f"{report.metric} by trial (in start order)", xaxis_title="trial number", yaxis_title=report.metric)
    return figure


def confirmed_error_bars(report: Report):
    """The confirmed configurations: mean and 95% interval across seeds, validation and test."""
    import plotly.graph_objects as go

    block = report.confirmed
    figure = go.Figure()
    if block is None:
        figure.update_layout(title="Confirmed across seeds: none yet (tfcli study confirm NAME)")
        return figure
    names = [c.trial_id for c in block.configs]
    for split in ("valid", "test"):
        summaries = [getattr(c, split) for c in block.configs]
        if not any(summaries):
            continue
        means = [s.mean if s else None for s in summaries]
        half = [(s.ci_high - s.mean) if s and _finite(s.ci_high) else 0.0 for s in summaries]
        figure.add_trace(go.Scatter(x=names, y=means, mode="markers", name=split, error_y={"type": "data", "array": half, "visible": True}))
    figure.update_layout(
        title=f"Confirmed across seeds: {block.metric}, mean and 95% CI (verdict: {block.verdict})",
        xaxis_title="configuration of trial", yaxis_title=block.metric,
    )
    return figure


def validation_against_test(report: Report):
    """The trials scored on test: their validation value against their test value."""
    import plotly.graph_objects as go

    key = f"test/{report.metric}"
    rows = [row for row in (report.all_ranked or report.ranking.ranked) if key in row.record.metrics]
    figure = go.Figure()
    if rows:
        figure.add_trace(go.Scatter(
            x=[row.value for row in rows], y=[row.record.metrics[key] for row in rows], mode="markers+text",
            text=[row.record.label for row in rows], textposition="top center", name="trial",
        ))
    title = f"Validation against test, top {len(rows)} trials" if rows else "Validation against test: no test scores yet (tfcli report NAME --test)"
    figure.update_layout(title=title, xaxis_title=f"{report.metric} (validation)", yaxis_title=f"{report.metric} (test)")
    return figure


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
"""


def render_html(report: Report, *, title: Optional[str] = None) -> str:
    """The whole page as a string (plotly.js inlined once, so it works offline)."""
    figures = [
        ("learning-curves", learning_curves(report)),
        ("parallel-coordinates", parallel_coordinates(report)),
        ("importance", importance_bars(report)),
        ("objective-by-trial", objective_by_trial(report)),
    ]
    if any(f"test/{report.metric}" in row.record.metrics for row in report.all_ranked or report.ranking.ranked):
        figures.append(("validation-vs-test", validation_against_test(report)))
    if report.confirmed is not None:
        figures.append(("confirmed", confirmed_error_bars(report)))
    plots = []
    for i, (div_id, figure) in enumerate(figures):
        figure.update_layout(height=460, margin={"t": 60})
        snippet = figure.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=div_id)
        plots.append(f'<div class="plot">{snippet}</div>')
    study = report.study
    title = title or f"tfcli report: {study.name}"
    ranking = _table(
        [header(c, report) for c in report.columns],
        [[display(row, c, report.metric) for c in report.columns] for row in report.ranking.ranked],
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{report.trials} trials; task {html.escape(str(study.task))}; objective "
        f"{html.escape(str(study.objective_metric))} ({html.escape(str(study.objective_mode))}); ranked by "
        f"{html.escape(report.metric)} ({report.mode}); study id {html.escape(study.study_id)}.</p>",
        *(f'<p class="warning">Warning: {html.escape(w)}.</p>' for w in report.warnings),
        *plots,
        f"<h2>Ranking by {html.escape(report.metric)}</h2>",
        ranking,
    ]
    if report.baselines:
        parts += [f"<h2>{html.escape(BASELINE_TITLE)}</h2>", _table(baseline_headers(report), baseline_rows(report))]
    if report.ranking.apart:
        parts += [
            "<h2>Failed, killed and without a value</h2>",
            _table(["trial", "status", "error"], [[r.trial_id, r.record.status.value, r.record.error or ""] for r in report.ranking.apart]),
        ]
    s = report.significance
    if s is not None:
        parts.append(f"<h2>Significance ({html.escape(s.metric)}, paired bootstrap)</h2>")
        if s.note:
            parts.append(f'<p class="note">Skipped: {html.escape(s.note)}.</p>')
        else:
            parts.append(_table(SIGNIFICANCE_HEADERS, significance_rows(report)))
            parts.append(f'<p class="note">{s.examples} validation examples, {s.resamples} resamples; difference = top minus other. The test {html.escape(SCOPE)}.</p>')
    if report.confirmed is not None:
        parts += [
            f"<h2>{html.escape(confirmed_title(report))}</h2>",
            _table(CONFIRMED_HEADERS, confirmed_rows(report)),
            f'<p class="note">Verdict: {html.escape(report.confirmed.sentence())}.</p>',
        ]
    notes = report.notes + ([report.parameter_source] if report.parameter_source else [])
    if notes:
        parts.append("<ul>" + "".join(f'<li class="note">{html.escape(n)}</li>' for n in notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
