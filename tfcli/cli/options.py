"""The options and arguments several commands share, defined once.

A command names the one it takes (``tracking_uri: TrackingUriOption = None``); an option whose
meaning differs in one command (``cluster submit --tracking-uri``: the store the cluster
reaches) is defined beside that command instead.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from tfcli.cli.output import OutputFormat

class Mode(str, Enum):
    max = "max"
    min = "min"


TrackingUriOption = Annotated[
    Optional[str], typer.Option("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else ./mlruns).")
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts.")]
AddressOption = Annotated[
    Optional[str], typer.Option("--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:10001 (default: a local Ray).")
]
StorageOption = Annotated[
    Optional[str], typer.Option("--storage", help="Where Ray keeps study state for resuming (default: ./mlruns/ray).")
]
NumSamplesOption = Annotated[Optional[int], typer.Option("--num-samples", min=1, help="Override search.num_samples.")]
MaxConcurrentOption = Annotated[Optional[int], typer.Option("--max-concurrent", min=1, help="Override search.max_concurrent.")]
StudyNameArgument = Annotated[str, typer.Argument(help="Study name (the MLflow experiment).")]
StudyFileArgument = Annotated[Path, typer.Argument(help="Study file (YAML).")]
MetricOption = Annotated[Optional[str], typer.Option("--metric", "-m", help="Rank by this logged metric (default: the study's objective).")]
ModeOption = Annotated[Optional[Mode], typer.Option("--mode", help="max or min (default: the objective's mode, else the metric's natural one).")]
WhereOption = Annotated[
    Optional[list[str]],
    typer.Option("--where", "-w", help="Keep trials where KEY OP VALUE holds, e.g. 'model.d_model>=128' or status=FINISHED (repeatable, all must hold)."),
]

__all__ = [
    "AddressOption", "FormatOption", "MaxConcurrentOption", "MetricOption", "Mode", "ModeOption", "NumSamplesOption",
    "OutputFormat", "StorageOption", "StudyFileArgument", "StudyNameArgument", "TrackingUriOption", "WhereOption",
]
