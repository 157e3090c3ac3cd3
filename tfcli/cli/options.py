"""The options and arguments several commands share, defined once.

A command names the one it takes (``tracking_uri: TrackingUriOption = None``); an option whose
meaning differs in one command (``cluster submit --tracking-uri``: the store the cluster
reaches) is defined beside that command instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tfcli.cli.output import OutputFormat

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

__all__ = [
    "AddressOption", "FormatOption", "MaxConcurrentOption", "NumSamplesOption", "OutputFormat", "StorageOption",
    "StudyFileArgument", "StudyNameArgument", "TrackingUriOption",
]
