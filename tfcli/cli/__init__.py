"""The tfcli command line: one Typer app per command group, joined here.

This is also the one place where user errors become one line on stderr and exit code 2.
Heavy libraries (torch, Ray, MLflow, pandas) are imported inside the commands that need them.
"""

from __future__ import annotations

import gc
import os
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from tfcli import __version__
from tfcli.errors import StudySpecError, UserError

EXIT_USER_ERROR = 2


def _debug_enabled() -> bool:
    return os.environ.get("TFCLI_DEBUG", "").strip() not in ("", "0", "false", "no")


class TfcliGroup(TyperGroup):
    """Root group: runs a command and turns a :class:`UserError` into one line and exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as err:
            if _debug_enabled():
                raise
            message = str(err).strip() or type(err).__name__
            located = isinstance(err, StudySpecError)
            typer.echo(message if located else f"error: {message}", err=True)
            ctx.exit(getattr(err, "exit_code", EXIT_USER_ERROR))


app = typer.Typer(
    cls=TfcliGroup,
    name="tfcli",
    help="Hyperparameter tuning studies of a built-in Transformer on NLP tasks (Ray Tune + MLflow).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tfcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks for user errors (or set TFCLI_DEBUG=1).")
    ] = False,
) -> None:
    if debug:
        os.environ["TFCLI_DEBUG"] = "1"


def _register() -> None:
    from tfcli.cli import baseline, export, predict, report, score, study, train, ui
    from tfcli.cli import study_manage  # noqa: F401 - registers study delete, tag, note and best

    app.add_typer(study.app, name="study", help="Create, check and run studies.")
    train.register(app)
    score.register(app)
    report.register(app)
    export.register(app)
    predict.register(app)
    ui.register(app)
    baseline.register(app)
    from tfcli.cli import cluster

    app.add_typer(cluster.app, name="cluster", help="Studies on clusters: Ray jobs, SLURM scripts, cluster checks.")


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="tfcli")
    finally:
        # What is alive now lives until the process ends: spare the interpreter its last full
        # garbage collection over it (0.3 s once scikit-learn, MLflow or torch is loaded).
        gc.freeze()


__all__ = ["app", "main", "EXIT_USER_ERROR"]
