"""The lines of a data file worth a look before training: empty, whitespace-only, over-long.

Empty and whitespace-only lines are skipped by the readers (:mod:`tfcli.data.files`), so
they cost nothing but often mean a broken export; a line over ``data.max_line_length`` makes
a study refuse the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tfcli.data.files import read_lines


@dataclass
class LineFindings:
    file: str
    empty: list[int] = field(default_factory=list)
    whitespace: list[int] = field(default_factory=list)
    over_long: list[tuple[int, int]] = field(default_factory=list)  # (line, characters)

    def to_dict(self) -> dict:
        return {
            "empty": self.empty,
            "whitespace_only": self.whitespace,
            "over_long": [{"line": line, "characters": n} for line, n in self.over_long],
        }


def scan_lines(path: str, max_line_length: int) -> LineFindings:
    """The empty, whitespace-only and over-long lines of ``path`` (a final line end makes no empty line)."""
    lines = read_lines(path)
    if lines and lines[-1] == "":
        lines.pop()
    found = LineFindings(file=path)
    for number, line in enumerate(lines, start=1):
        if not line:
            found.empty.append(number)
        elif not line.strip():
            found.whitespace.append(number)
        if len(line) > max_line_length:
            found.over_long.append((number, len(line)))
    return found


__all__ = ["LineFindings", "scan_lines"]
