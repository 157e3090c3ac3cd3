"""``tfcli baseline FILE``: the cheap reference baselines of a study's data, on valid and test."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tfcli.baselines import best_baseline, compute_baselines
from tfcli.spec.load import load_spec
from tfcli.train.prepare import load_splits

from tfcli.cli.options import FormatOption, StudyFileArgument
from tfcli.cli.output import OutputFormat, console, print_json


def register(app: typer.Typer) -> None:
    app.command("baseline")(baseline)


def baseline(
    file: StudyFileArgument,
    output: FormatOption = OutputFormat.table,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse results computed before on the same data ($TFCLI_CACHE/baselines).")] = True,
) -> None:
    """Score the task's baselines (majority class, TF-IDF + LR, copy source, lead sentence, ...)
    on the study's validation and test splits, with the metrics and settings the trials use."""
    spec = load_spec(file)
    results = compute_baselines(spec, load_splits(spec), use_cache=cache)
    metric, mode = spec.primary_objective.metric, spec.primary_objective.mode
    best = best_baseline(results, metric, mode)
    if output is OutputFormat.json:
        print_json(
            {
                "study": spec.name,
                "task": spec.task.type,
                "objective": {"metric": metric, "mode": mode},
                "baselines": [r.to_dict() for r in results],
                "best": None if best is None else {"name": best.name, "split": best.split, "value": best.metrics[metric]},
            }
        )
        return
    _print_table(spec, results, best, metric, mode)


def _print_table(spec, results, best, metric: str, mode: str) -> None:
    names = list(dict.fromkeys(m for r in results for m in r.metrics))
    table = Table(title=f"{spec.name}: baselines of {spec.task.type} ({spec.task.data if isinstance(spec.task.data, str) else 'data files'})")
    for column in ("baseline", "split", *names, "what"):
        table.add_column(column, justify="left" if column in ("baseline", "split", "what") else "right")
    for r in results:
        table.add_row(r.name, r.split, *(f"{r.metrics[m]:.2f}" if m in r.metrics else "" for m in names), r.description)
    screen = console()
    screen.print(table)
    if best is not None:
        screen.print(f"Best baseline on validation by {metric} ({mode}): {best.name} {best.metrics[metric]:.2f}", markup=False)
    else:
        screen.print(f"No baseline scores the objective {metric} (it is not computed from outputs).", markup=False)
