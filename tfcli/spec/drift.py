"""Whether a study's file still says what the study was started with.

``resume`` runs the spec stored with the study, never the file as it is now (a half-run study
with two searchers or two spaces would be neither). A user who edited the file in between
must be told that the edit is not what runs, and which fields it touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from tfcli.spec.load import check_spec_file
from tfcli.spec.schema import StudySpec

#: Fields a study fills in itself when the file leaves them out (the drawn search seed).
_FILLED_WHEN_UNSET = ("search.seed",)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def changed_fields(stored: StudySpec, current: StudySpec) -> list[str]:
    """The dotted fields whose values differ between the stored spec and the file's, sorted.

    A field the study fills in when the file leaves it unset (``search.seed``) is not a change.
    """
    old = _flatten(stored.model_dump(mode="json"))
    new = _flatten(current.model_dump(mode="json"))
    changed = []
    for field in sorted(set(old) | set(new)):
        if old.get(field) == new.get(field):
            continue
        if field in _FILLED_WHEN_UNSET and new.get(field) is None:
            continue
        changed.append(field)
    return changed


def _study_file(spec: StudySpec) -> Optional[Path]:
    """Where the study file is, from any working folder: ``source_file`` is the path as the user
    typed it, ``base_dir`` the absolute folder it was found in."""
    if not spec.source_file:
        return None
    source = Path(spec.source_file)
    if source.is_absolute() or not spec.base_dir:
        return source
    return Path(spec.base_dir) / source.name


def drift_notice(stored: StudySpec) -> Optional[str]:
    """One line when the study file the stored spec came from now says something else; None
    when it is unchanged, gone, or the study was not started from a file."""
    source = stored.source_file
    path = _study_file(stored)
    if path is None or not path.is_file():
        return None
    current, problems = check_spec_file(path)
    if current is None:
        first = problems[0] if problems else None
        return (
            f"{source} no longer loads ({first}); resume runs study {stored.name!r} as it was started"
            if first else None
        )
    fields = changed_fields(stored, current)
    if not fields:
        return None
    shown = ", ".join(fields[:8]) + (f" and {len(fields) - 8} more" if len(fields) > 8 else "")
    return (
        f"{source} changed since study {stored.name!r} started ({shown}); resume runs the study as it was "
        f"started, not the edited file: to run the edit, give it a new `name:` and `tfcli study start` it"
    )
