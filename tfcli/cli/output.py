"""Output helpers shared by the commands: Rich consoles, JSON, and the ``--format`` option."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from typing import Any

from rich.console import Console


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def console(stderr: bool = False):
    """A Rich console; width comes from ``COLUMNS`` when set, so tests can pin it."""
    columns = os.environ.get("COLUMNS", "")
    stream = sys.stderr if stderr else sys.stdout
    width = int(columns) if columns.isdigit() else (None if stream.isatty() else 160)
    return Console(stderr=stderr, width=width, highlight=False, soft_wrap=True)


def print_json(payload: Any) -> None:
    """One JSON object on one line of stdout, for scripts."""
    sys.stdout.write(json.dumps(payload, default=str, sort_keys=False) + "\n")
    sys.stdout.flush()
