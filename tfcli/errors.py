"""User-error types.

Anything a user can cause (a bad study file, a missing data file, an unknown metric, an
unreachable cluster) raises a subclass of :class:`UserError`. The CLI turns it into one line
on stderr and exit code 2; every other exception is a bug and keeps its traceback.

Messages state the rule, then the value given, and where possible what to do:
``heads must divide d_model, but got heads=3, d_model=128``.
"""

from __future__ import annotations

from dataclasses import dataclass


class UserError(Exception):
    """A problem the user can fix. ``str(err)`` is the one line the CLI prints."""


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a study file, located by line and dotted field path."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


class StudySpecError(UserError):
    """A study file with one or more problems; all of them are reported at once."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class DataError(UserError):
    """Bad or missing user data: a malformed line, an empty data set, a missing file."""


class ConfigError(UserError):
    """A bad override or setting given on the command line (``--set key=value``)."""


class MetricError(UserError):
    """An unknown metric, or inputs that cannot be scored (line counts that differ)."""


class DivergedError(Exception):
    """Training produced a NaN or infinite loss. Not a user error: the trial failed."""


class StudyError(UserError):
    """A study that cannot be started, resumed or found."""


class DiskFullError(StudyError):
    """A study stopped because a disk it writes to is full or read-only: its runs are closed
    and it resumes once there is room. Exit code 1, not 2: the study file was not at fault."""

    exit_code = 1


class ClusterError(UserError):
    """An unreachable Ray cluster or tracking server, or a cluster that is set up wrong."""


class ExportError(UserError):
    """A study, trial or folder that cannot be exported or loaded."""
