"""What a cross-field rule reports, and how it reads the raw study mapping: each section is
validated on its own (:func:`section`), so a rule still runs, and its problems are still
reported, when some other section of the file is broken."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

#: A problem: the path of the field in the study file, and the message.
Problem = tuple[tuple[Any, ...], str]


def section(data: dict, name: str, model: type[BaseModel]) -> BaseModel | None:
    """The section ``name`` of the raw mapping ``data`` validated as ``model``, or None when
    it does not validate (its own problems are reported by the schema)."""
    raw = data.get(name, {})
    if raw is None:
        raw = {}
    try:
        return model.model_validate(raw)
    except (ValidationError, RecursionError, OverflowError, TypeError):
        return None
