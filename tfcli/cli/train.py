"""``tfcli train``: one run of one configuration, no search; logged to MLflow
(:func:`tfcli.study.single_run.train_and_track`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tfcli.cli.options import FormatOption, TrackingUriOption
from tfcli.cli.output import OutputFormat, console, print_json
from tfcli.cli.train_progress import train_display
from tfcli.errors import DivergedError
from tfcli.spec.load import load_spec
from tfcli.spec.overrides import apply_overrides, parse_set_options
from tfcli.study.single_run import TrackedRun, default_workdir, train_and_track
from tfcli.tracking import check_tracking, resolve_tracking

EXIT_RUN_FAILED = 1


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    file: Annotated[Path, typer.Argument(help="Study file; its default configuration is trained.")],
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", "-s", help="Override a setting: --set train.lr=3e-4 (repeatable)."),
    ] = None,
    output: FormatOption = OutputFormat.table,
    tracking_uri: TrackingUriOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for checkpoints (default: mlruns/train/NAME/TIME).")] = None,
    test: Annotated[bool, typer.Option("--test/--no-test", help="Score the best checkpoint on the test split at the end.")] = True,
) -> None:
    """Train the study's default configuration once (a baseline or a debug run)."""
    spec = apply_overrides(load_spec(file), parse_set_options(set_ or []))
    tracking = check_tracking(resolve_tracking(tracking_uri))
    workdir = out or default_workdir(spec)
    quiet = output is OutputFormat.json
    screen = console(stderr=quiet)
    screen.print(f"Training {spec.name} ({spec.task.type}); checkpoints in {workdir}; MLflow store {tracking.uri}")
    progress = train_display(screen, spec)
    try:
        with progress:
            run = train_and_track(spec, tracking, workdir, callbacks=[progress], evaluate_test=test)
    except DivergedError as err:
        screen.print(f"[red]error:[/red] {err}")
        raise typer.Exit(EXIT_RUN_FAILED) from None
    if quiet:
        print_json(_summary(run, tracking.uri))
        return
    progress.print_summary(run.result, run.run_id, tracking.uri)


def _summary(run: TrackedRun, tracking_uri: str) -> dict:
    """The JSON object ``--format json`` prints last."""
    result, best = run.result, run.result.best
    return {
        "run_id": run.run_id,
        "tracking_uri": tracking_uri,
        "artifact_uri": run.artifact_uri,
        "checkpoint": str(best.checkpoint) if best else None,
        "best_step": best.step if best else None,
        "steps": result.steps,
        "max_time_reached": result.max_time_reached,
        "parameters": result.parameters,
        "metrics": best.metrics if best else {},
        "test_metrics": result.test_metrics,
        "truncated": result.truncated,
    }
