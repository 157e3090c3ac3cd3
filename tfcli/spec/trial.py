"""A trial's spec: the study's defaults with a sampled configuration applied, and the plain
JSON payload that carries a study (and where its file lives) to a Ray worker.

The one builder of trial specs: the trainable, the trial wrapper and the study callback all
call :func:`trial_spec`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from tfcli.spec.schema import SEARCHABLE_SECTIONS, StudySpec


def searched_overrides(config: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a sampled ``config`` that name a field of a searchable section."""
    out = {}
    for path, value in config.items():
        section, _, name = path.partition(".")
        if section in SEARCHABLE_SECTIONS and name in SEARCHABLE_SECTIONS[section].model_fields:
            out[path] = value
    return out


def trial_spec(spec: StudySpec, config: Mapping[str, Any], *, strict: bool = True) -> StudySpec:
    """``spec`` with the trial's sampled ``config`` applied.

    ``strict``: a key that names no field, or a bad value, raises (``KeyError``,
    :class:`pydantic.ValidationError`), which is right where the trial is about to train.
    Not strict (what the tracking side wants, which only describes a trial): keys that are not
    fields are ignored, and a configuration that does not validate gives ``spec`` itself.
    """
    if strict:
        return spec.with_overrides(dict(config))
    try:
        return spec.with_overrides(searched_overrides(config))
    except (KeyError, ValueError):
        return spec


def study_payload(spec: StudySpec, *, study_id: Optional[str] = None, experiment: Optional[str] = None) -> dict[str, Any]:
    """What a trial receives as ``study``: plain JSON data."""
    return {
        "spec": spec.model_dump(mode="json"),
        "base_dir": spec.base_dir,
        "source_file": spec.source_file,
        "study_id": study_id,
        "experiment": experiment or spec.name,
    }


def spec_from_payload(payload: Mapping[str, Any]) -> StudySpec:
    """The StudySpec of :func:`study_payload`, placed where its study file was."""
    return StudySpec.model_validate(payload["spec"]).located(payload.get("base_dir"), payload.get("source_file"))
