"""``tfcli predict``: run an exported model (a folder or a registered model) on inputs."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from tfcli.cli.options import TrackingUriOption
from tfcli.errors import DataError
from tfcli.export import find_export_folder, load_export, read_export_config, read_inputs
from tfcli.tracking import check_tracking, download_model, resolve_tracking


class PredictFormat(str, Enum):
    text = "text"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)


def predict(
    source: Annotated[str, typer.Argument(help="An export folder (tfcli export), or models:/NAME@ALIAS or models:/NAME/VERSION.", show_default=False)],
    input_: Annotated[str, typer.Option("--input", "-i", help="Input file, or - for stdin: one text per line (qa: JSONL with context and question).")] = "-",
    beam: Annotated[Optional[int], typer.Option("--beam", help="Beam size (default: the one the trial was evaluated with).", min=1)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Examples per batch (default: the trial's eval.batch_size).", min=1)] = None,
    output: Annotated[PredictFormat, typer.Option("--format", "-f", help="text: one prediction per line; json: one JSON object per line.")] = PredictFormat.text,
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Predict with an exported model: one output per input line, in order."""
    # A folder is only read (its files checked before use, nothing written); a registered
    # model is downloaded into a temporary folder, removed afterwards.
    registered = source.startswith("models:/")
    with tempfile.TemporaryDirectory(prefix="tfcli-predict-") if registered else contextlib.nullcontext() as tmp:
        if registered:
            tracking = check_tracking(resolve_tracking(tracking_uri))
            folder = find_export_folder(download_model(tracking, source, tmp))
        else:
            folder = Path(source)
        config = read_export_config(folder)  # a clear error before reading inputs or loading torch
        if input_ == "-":
            lines = sys.stdin.read().splitlines()
            name = "stdin"
        else:
            path = Path(input_)
            if not path.is_file():
                raise DataError(f"--input must be a readable file or -, but {path} does not exist")
            lines = path.read_text(encoding="utf-8").splitlines()
            name = str(path)
        inputs = read_inputs(config["task"], lines, source=name)
        model = load_export(folder)
        predictions = model.predict(inputs, beam=beam, batch_size=batch_size)
    out = sys.stdout
    for index, (item, prediction) in enumerate(zip(inputs, predictions)):
        if output is PredictFormat.json:
            out.write(json.dumps({"index": index, "input": item, "prediction": prediction}, ensure_ascii=False) + "\n")
        else:
            out.write(prediction.replace("\n", " ") + "\n")
    out.flush()
