"""``tfcli data inspect``: a data profile (:mod:`tfcli.data.profile`) on the terminal or as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tfcli.cli.options import FormatOption
from tfcli.cli.output import OutputFormat, console, print_json
from tfcli.data.leakage import EXACT
from tfcli.data.profile import HELD_OUT, DataProfile, profile_data, read_data
from tfcli.errors import DataError
from tfcli.spec.load import load_spec
from tfcli.spec.schema import DataFiles, DataSpec, ModelSpec
from tfcli.spec.tasks import TASK_TYPES
from tfcli.train.prepare import data_source

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)

#: Findings listed on the terminal per kind; ``--format json`` lists them all.
SHOWN = 20
STUDY_SUFFIXES = (".yaml", ".yml")


def data_input(files: list[Path], task: Optional[str]) -> tuple[str, dict, DataSpec, int]:
    """The task, the data source, the data settings and the model's longest input of either a
    study file or TRAIN [VALID [TEST]] files (with the default settings)."""
    if len(files) == 1 and files[0].suffix.lower() in STUDY_SUFFIXES:
        spec = load_spec(files[0])
        if not isinstance(spec.task.data, DataFiles):
            raise DataError(f"{files[0]}: the study uses {spec.task.data}; data inspect reads data files")
        return spec.task.type, data_source(spec), spec.data, spec.model.max_length
    if task not in TASK_TYPES:
        raise DataError(f"--task must be one of {', '.join(TASK_TYPES)}, but got {task!r}")
    if len(files) > 3:
        raise DataError(f"give TRAIN [VALID [TEST]] files or one study file, but got {len(files)} files")
    source = dict(zip(("train", "valid", "test"), map(str, files)))
    return task, source, DataSpec(), ModelSpec().max_length


@app.command("inspect")
def inspect(
    files: Annotated[list[Path], typer.Argument(help="TRAIN [VALID [TEST]] data files, or one study file.")],
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="translation, summarization, classification or qa (with data files).")] = None,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Profile data files as a study would read them: sizes, lengths, truncation, labels, bad lines, leakage."""
    task, source, data, model_max = data_input(files, task)
    profile = profile_data(read_data(task, source, data), data, model_max)
    if output is OutputFormat.json:
        print_json(profile.to_dict())
        return
    print_profile(profile)


def _lengths(stats: dict[str, int]) -> str:
    return "/".join(str(stats[k]) for k in ("p50", "p90", "p99", "max"))


def _splits_table(profile: DataProfile) -> Table:
    fields = list(next(iter(profile.splits.values())).chars)
    table = Table(title=f"{profile.task} data; lengths p50/p90/p99/max")
    for column in ("split", "file", "examples", *(f"{f} chars" for f in fields), *(f"{f} tokens" for f in fields), "truncated"):
        table.add_column(column, justify="left" if column in ("split", "file") else "right")
    for s in profile.splits.values():
        truncated = f"{s.truncated} ({s.truncated_share:.1%})"
        table.add_row(
            s.split, s.file + (" (carved)" if s.carved else ""), str(s.examples),
            *(_lengths(s.chars[f]) for f in fields), *(_lengths(s.tokens[f]) for f in fields), truncated,
        )
    return table


def _listed(out, title: str, lines: list[str]) -> None:
    if not lines:
        return
    out.print(f"{title}: {len(lines)}", markup=False)
    for line in lines[:SHOWN]:
        out.print(f"  {line}", markup=False)
    if len(lines) > SHOWN:
        out.print(f"  ... and {len(lines) - SHOWN} more (--format json lists them all)", markup=False)


def _match_line(m) -> str:
    how = "exact" if m.kind == EXACT else "equal up to case and whitespace"
    return f"{m.other.where} = {m.first.where} ({how})"


def print_profile(profile: DataProfile) -> None:
    out = console()
    limits = profile.limits
    out.print(
        f"Tokenizer: {profile.tokenizer['kind']}, vocab_size {profile.tokenizer['vocab_size']} (trained: {profile.tokenizer['trained_size']}); "
        f"limits: max_source_length {limits.source}, max_target_length {limits.target}, max_line_length {profile.max_line_length:,}",
        markup=False,
    )
    out.print(_splits_table(profile))
    for s in profile.splits.values():
        if s.labels is not None:
            counts = ", ".join(f"{label} {n}" for label, n in s.labels.items())
            unseen = f"; not in train: {', '.join(s.unseen_labels)}" if s.unseen_labels else ""
            out.print(f"Labels ({s.split}): {counts}{unseen}", markup=False)
        if s.answers_cut:
            out.print(f"Answers cut away by truncation ({s.split}): {s.answers_cut} of {s.examples}", markup=False)
        _listed(out, f"Repeated examples in {s.split}", [_match_line(m) for m in s.duplicates])
    for found in profile.lines.values():
        _listed(out, f"Empty lines in {found.file}", [f"{found.file}:{n}" for n in found.empty])
        _listed(out, f"Whitespace-only lines in {found.file}", [f"{found.file}:{n}" for n in found.whitespace])
        _listed(
            out, f"Lines over max_line_length in {found.file} (a study refuses the file)",
            [f"{found.file}:{n} ({chars:,} characters)" for n, chars in found.over_long],
        )
    for split in HELD_OUT:
        leaked = profile.splits[split].leaks
        _listed(out, f"Leakage: {split} examples whose input train has", [_match_line(m) for m in leaked])
    if not profile.leak_count:
        out.print("Leakage: none (no valid or test input is in train, up to case and whitespace)", markup=False)
