"""``tfcli report``: rank a study's trials, test the top one, score hyperparameter importance."""

from __future__ import annotations

import shutil
import sys
import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from tfcli import tracking as tr
from tfcli.cli.options import MetricOption, ModeOption, TrackingUriOption, WhereOption
from tfcli.cli.output import console
from tfcli.report import render
from tfcli.report.build import build_report, compare_studies
from tfcli.report.html import render_html
from tfcli.report.ranking import ReportError, parse_columns, parse_where
from tfcli.study.lifecycle import score_held_out


class ReportFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"
    html = "html"


class At(str, Enum):
    best = "best"
    last = "last"


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    names: Annotated[list[str], typer.Argument(help="Study name; with two or more, their best trials side by side.", show_default=False)],
    metric: MetricOption = None,
    mode: ModeOption = None,
    top: Annotated[int, typer.Option("--top", "-k", help="Show the best K ranked trials; 0 shows all.", min=0)] = 20,
    where: WhereOption = None,
    columns: Annotated[
        Optional[list[str]],
        typer.Option("--columns", "-c", help="Columns to show, comma-separated: rank, trial, value, step, time, parameters, status, run_id, error, any parameter or metric."),
    ] = None,
    at: Annotated[At, typer.Option("--at", help="best: each trial's best value and its step; last: the last logged value.")] = At.best,
    compare: Annotated[int, typer.Option("--compare", help="Test the top trial against this many next ones.", min=0)] = 3,
    significance: Annotated[bool, typer.Option("--significance/--no-significance", help="Paired bootstrap of the top trial against the next ones.")] = True,
    importance: Annotated[bool, typer.Option("--importance/--no-importance", help="Hyperparameter importance over finished trials: fANOVA and PED-ANOVA, per objective.")] = True,
    output: Annotated[
        ReportFormat,
        typer.Option("--format", "-f", help="table, json, markdown, html (a plotly page), or csv (the trials only, raw numbers)."),
    ] = ReportFormat.table,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file (html default: NAME-report.html).")] = None,
    log_html: Annotated[bool, typer.Option("--log/--no-log", help="html: also log the page as report.html on the study's parent run.")] = True,
    tracking_uri: TrackingUriOption = None,
    test: Annotated[
        bool, typer.Option("--test", help="First score the top trials (report.test_top) and the confirmation runs on the test split, on Ray.")
    ] = False,
    address: Annotated[Optional[str], typer.Option("--address", help="--test: the Ray cluster to score on (default: a local Ray).")] = None,
) -> None:
    """Rank a study's trials by its objective or --metric, with significance and importance.

    Failed and killed trials are listed apart. With several objectives, the Pareto front comes
    first (front ranks and the first front's hypervolume). Two or more study names compare the
    studies' best trials side by side.
    """
    conditions = [parse_where(w) for w in where or []]
    chosen_columns = parse_columns(columns)
    writes = (output is ReportFormat.html and log_html or test) and len(names) == 1
    tracking = tr.check_tracking(tr.resolve_tracking(tracking_uri)) if writes else tr.readable_tracking(tracking_uri)
    if test and len(names) == 1:
        for problem in score_held_out(names[0], tracking, address=address):
            print(f"Note: {problem}", file=sys.stderr)
    if len(names) > 1:
        _compare(tracking, names, metric, mode, at, output, out)
        return
    wants_extras = output is not ReportFormat.csv
    built = build_report(
        tracking, names[0], metric=metric, mode=mode.value if mode else None, at=at.value, top=top or None,
        where=conditions, columns=chosen_columns, compare=compare,
        with_significance=significance and wants_extras and compare > 0,
        with_importance=importance and wants_extras,
        with_pareto=wants_extras,  # csv: the trials only
        curves=output is ReportFormat.html,
    )
    _render(tracking, built, output, out, log_html)


def _render(tracking, built, output: ReportFormat, out: Optional[Path], log_html: bool) -> None:
    """Print or write ``built`` in the chosen format."""
    if output is ReportFormat.html:
        _write_html(tracking, built, out, log_html)
        return
    if output is ReportFormat.table:
        if out is None:
            render.print_table(built, _console())
        else:
            with out.open("w", encoding="utf-8") as handle:
                render.print_table(built, _console(file=handle))
            _done(out)
        return
    text = {ReportFormat.csv: render.to_csv, ReportFormat.json: render.to_json, ReportFormat.markdown: render.to_markdown}[output](built)
    if output is ReportFormat.json and not text.endswith("\n"):
        text += "\n"
    _emit(text, out)
    if output is ReportFormat.csv:
        for note in built.notes:
            if "METEOR" in note:
                typer.echo(f"Note: {note}", err=True)


def _console(file=None):
    """The terminal's console, or one 200 columns wide for a file (tables must not wrap)."""
    if file is None:
        return console()
    return Console(file=file, width=200, highlight=False, soft_wrap=False)


def _emit(text: str, out: Optional[Path]) -> None:
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    _done(out)


def _done(path: Path) -> None:
    typer.echo(f"Wrote {path}", err=True)


def _write_html(tracking, built, out: Optional[Path], log_html: bool) -> None:
    page = render_html(built)
    path = out or Path(f"{built.study.name}-report.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    typer.echo(f"Wrote {path}")
    if log_html:
        with tempfile.TemporaryDirectory(prefix="tfcli-report-") as tmp:
            staged = Path(tmp) / tr.REPORT_ARTIFACT
            shutil.copyfile(path, staged)
            uri = tr.log_run_artifact(tracking, built.study.run_id, staged)
        typer.echo(f"Logged {tr.REPORT_ARTIFACT} on the study's parent run {built.study.run_id} ({uri})")


def _compare(tracking, names, metric, mode, at, output, out) -> None:
    if output is ReportFormat.html:
        raise ReportError("--format html reports one study; compare studies with table, csv, json or markdown")
    bests = compare_studies(tracking, names, metric=metric, mode=mode.value if mode else None, at=at.value)
    if output is ReportFormat.table:
        render.print_compare(bests, _console())
        return
    text = {ReportFormat.csv: render.compare_to_csv, ReportFormat.json: render.compare_to_json, ReportFormat.markdown: render.compare_to_markdown}[output](bests)
    _emit(text if text.endswith("\n") else text + "\n", out)
