"""``tfcli train``: one run of one configuration, no search; logged to MLflow."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from tfcli.cli.options import FormatOption, TrackingUriOption
from tfcli.cli.output import OutputFormat, console, print_json

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
    from tfcli.errors import DivergedError
    from tfcli.spec.load import load_spec
    from tfcli.spec.overrides import apply_overrides, flat_settings, parse_set_options
    from tfcli.tracking import check_tracking, resolve_tracking

    spec = apply_overrides(load_spec(file), parse_set_options(set_ or []))
    tracking = check_tracking(resolve_tracking(tracking_uri))
    workdir = out or Path("mlruns") / "train" / spec.name / time.strftime("%Y%m%d-%H%M%S")
    quiet = output is OutputFormat.json
    screen = console(stderr=quiet)

    from tfcli.tracking import RunLogger
    from tfcli.train.loop import Trainer
    from tfcli.cli.train_progress import EvaluationLogger, train_display

    screen.print(f"Training {spec.name} ({spec.task.type}); checkpoints in {workdir}; MLflow store {tracking.uri}")
    try:
        with RunLogger(tracking, experiment=spec.name, run_name=f"train-{workdir.name}", params=flat_settings(spec), tags={"tfcli.task": spec.task.type}) as run:
            progress = train_display(screen, spec)
            with progress:
                trainer = Trainer(spec, workdir, callbacks=[progress, EvaluationLogger(run)], evaluate_test=test)
                run.log_params({"train.device_resolved": trainer.placement.device, "train.precision_resolved": trainer.placement.precision})
                progress.describe(trainer)
                result = trainer.fit()
            if result.best is not None:
                run.log_artifacts(result.best.checkpoint, "checkpoint")
            if result.test_metrics:
                run.log_metrics({f"test_{k}": v for k, v in result.test_metrics.items()}, step=result.steps)
            run.set_tags({"tfcli.parameters": result.parameters, "tfcli.checkpoint_step": result.best.step if result.best else ""})
            run_id, artifact_uri = run.run_id, run.artifact_uri
    except DivergedError as err:
        screen.print(f"[red]error:[/red] {err}")
        raise typer.Exit(EXIT_RUN_FAILED) from None

    if quiet:
        print_json(_summary(result, run_id, artifact_uri, tracking.uri))
        return
    progress.print_summary(result, run_id, tracking.uri)


def _summary(result, run_id: str, artifact_uri: str, tracking_uri: str) -> dict:
    """The JSON object ``--format json`` prints last."""
    best = result.best
    return {
        "run_id": run_id,
        "tracking_uri": tracking_uri,
        "artifact_uri": artifact_uri,
        "checkpoint": str(best.checkpoint) if best else None,
        "best_step": best.step if best else None,
        "steps": result.steps,
        "max_time_reached": result.max_time_reached,
        "parameters": result.parameters,
        "metrics": best.metrics if best else {},
        "test_metrics": result.test_metrics,
        "truncated": result.truncated,
    }
