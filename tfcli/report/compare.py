"""Several studies side by side (``tfcli report A B ...``): the best trial of each, as a Rich
table, CSV, JSON or Markdown."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Sequence

from rich.table import Table

from tfcli.report.build import StudyBest
from tfcli.report.cells import _json_value, _md_table, fmt_number


def compare_columns(bests: Sequence[StudyBest]) -> list[str]:
    params: list[str] = []
    for b in bests:
        params += [p for p in b.parameters if p not in params]
    return ["study", "task", "metric", "mode", "best", "trial", "step", "finished", *params]


def compare_cells(best: StudyBest, columns: Sequence[str]) -> dict[str, Any]:
    row = best.best
    values: dict[str, Any] = {
        "study": best.study.name,
        "task": best.study.task,
        "metric": best.metric,
        "mode": best.mode,
        "best": _json_value(row.value) if row else None,
        "trial": row.trial_id if row else None,
        "step": row.step if row else None,
        "finished": f"{best.finished}/{best.trials}",
    }
    for column in columns[8:]:
        values[column] = (row.record.config.get(column, row.record.params.get(column)) if row else None)
    return values


def compare_to_json(bests: Sequence[StudyBest]) -> str:
    payload = {
        "studies": [
            {
                "study": b.study.to_dict(),
                "metric": b.metric,
                "mode": b.mode,
                "finished": b.finished,
                "trials": b.trials,
                "best": None
                if b.best is None
                else {
                    "trial_id": b.best.trial_id,
                    "run_id": b.best.record.run_id,
                    "value": _json_value(b.best.value),
                    "step": b.best.step,
                    "config": {p: b.best.record.config.get(p, b.best.record.params.get(p)) for p in b.parameters},
                },
            }
            for b in bests
        ]
    }
    return json.dumps(payload, indent=2, default=str)


def compare_to_csv(bests: Sequence[StudyBest]) -> str:
    columns = compare_columns(bests)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for b in bests:
        values = compare_cells(b, columns)
        writer.writerow(["" if values[c] is None else values[c] for c in columns])
    return buffer.getvalue()


def compare_to_markdown(bests: Sequence[StudyBest]) -> str:
    columns = compare_columns(bests)
    rows = [[fmt_number(compare_cells(b, columns)[c]) for c in columns] for b in bests]
    return "\n".join([f"## Studies compared: {', '.join(b.study.name for b in bests)}", "", *_md_table(columns, rows)]) + "\n"


def print_compare(bests: Sequence[StudyBest], console) -> None:
    columns = compare_columns(bests)
    table = Table(title="Best trial of each study")
    for column in columns:
        table.add_column(column)
    for b in bests:
        values = compare_cells(b, columns)
        table.add_row(*(fmt_number(values[c]) for c in columns))
    console.print(table)
