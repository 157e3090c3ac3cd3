"""The tfcli command line: one Typer app per command group, joined here.

This is also the one place where user errors become one line on stderr and exit code 2.

A command's module is imported when the command runs, not to list it: :data:`COMMANDS` names
each module and the line ``tfcli --help`` lists it with, so ``tfcli --help`` builds no command
(building all of them took as long again as importing Typer; ``benchmarks/cli_startup.py``).
"""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import MutableMapping
from typing import Annotated, NamedTuple, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from tfcli import __version__
from tfcli.errors import StudySpecError, UserError

EXIT_USER_ERROR = 2


def _debug_enabled() -> bool:
    return os.environ.get("TFCLI_DEBUG", "").strip() not in ("", "0", "false", "no")


class Entry(NamedTuple):
    """A command of the root: its module, and the line ``tfcli --help`` lists it with.

    A group's ``summary`` is also its help. A single command's is the first paragraph of its
    docstring (``tests/cli/test_cli_startup.py`` holds the two equal); the listing shortens it
    as Click does.
    """

    module: str
    summary: str
    group: bool = False


COMMANDS: dict[str, Entry] = {
    "train": Entry("tfcli.cli.train", "Train the study's default configuration once (a baseline or a debug run)."),
    "score": Entry("tfcli.cli.score", "Score a file of outputs with the same metrics (and code) that studies use."),
    "report": Entry("tfcli.cli.report", "Rank a study's trials by its objective or --metric, with significance and importance."),
    "export": Entry("tfcli.cli.export", "Export the best (or --trial) model of a study: weights, config, tokenizer and a model card."),
    "predict": Entry("tfcli.cli.predict", "Predict with an exported model: one output per input line, in order."),
    "ui": Entry("tfcli.cli.ui", "Serve the MLflow UI on the study store and print the runs view of each study."),
    "baseline": Entry(
        "tfcli.cli.baseline",
        "Score the task's baselines (majority class, TF-IDF + LR, copy source, lead sentence, ...) "
        "on the study's validation and test splits, with the metrics and settings the trials use.",
    ),
    "study": Entry("tfcli.cli.study", "Create, check and run studies.", group=True),
    "data": Entry("tfcli.cli.data", "Look at data files before a study: sizes, lengths, labels, bad lines, leakage.", group=True),
    "cluster": Entry("tfcli.cli.cluster", "Studies on clusters: Ray jobs, SLURM scripts, cluster checks.", group=True),
}


def load_command(name: str):
    """The Click command of ``name``: its module imported, its Typer app built.

    A group module holds its ``app``; a single command's module registers it on the app
    given (``register(app)``).
    """
    entry = COMMANDS[name]
    module = importlib.import_module(entry.module)
    if entry.group:
        command = typer.main.get_group(module.app)
        command.help = entry.summary
    else:
        single = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False)
        module.register(single)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _LazyCommands(MutableMapping):
    """The root's commands: every name of :data:`COMMANDS`, each built on first use."""

    def __init__(self, built: dict):
        self.built = built

    def __getitem__(self, name: str):
        if name not in self.built:
            if name not in COMMANDS:
                raise KeyError(name)
            self.built[name] = load_command(name)
        return self.built[name]

    def __setitem__(self, name: str, command) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        del self.built[name]

    def __iter__(self):
        return iter(dict.fromkeys([*COMMANDS, *self.built]))

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self.built))


class TfcliGroup(TyperGroup):
    """Root group: lists the commands without building them, runs one, and turns a
    :class:`UserError` into one line and exit 2."""

    def __init__(self, **attrs):
        super().__init__(**attrs)
        self.commands = _LazyCommands(dict(self.commands))

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx, formatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _short_help(entry.summary, limit)) for name, entry in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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


def _short_help(summary: str, limit: int) -> str:
    """What Click lists a command with: its help shortened to ``limit`` (``Command.get_short_help_str``)."""
    return TyperCommand(name=None, help=summary).get_short_help_str(limit)


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="tfcli")
    finally:
        # What is alive now lives until the process ends: spare the interpreter its last full
        # garbage collection over it (0.3 s once scikit-learn, MLflow or torch is loaded).
        gc.freeze()


__all__ = ["app", "main", "EXIT_USER_ERROR"]
