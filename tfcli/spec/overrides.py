"""``--set section.field=value`` overrides, and a study's settings as flat dotted names."""

from __future__ import annotations

import difflib
from typing import Any

import yaml
from pydantic import ValidationError

from tfcli.errors import ConfigError
from tfcli.spec.fields import searchable_paths
from tfcli.spec.schema import SEARCHABLE_SECTIONS, StudySpec


def parse_set_options(options: list[str]) -> dict[str, Any]:
    """``["train.lr=1e-3", "model.norm=post"]`` → ``{"train.lr": 0.001, "model.norm": "post"}``.

    Values are read as YAML scalars, so numbers, booleans and strings need no quoting.
    """
    known = searchable_paths()
    overrides: dict[str, Any] = {}
    for option in options:
        key, sep, text = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set takes section.field=value, e.g. --set train.lr=3e-4, but got {option!r}")
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else "; keys are section.field under model, train, data or eval"
            raise ConfigError(f"--set {option}: unknown key {key!r}{hint}")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        overrides[key] = value
    return overrides


def apply_overrides(spec: StudySpec, overrides: dict[str, Any]) -> StudySpec:
    """The spec with ``overrides`` applied; a bad value is a one-line :class:`ConfigError`."""
    try:
        return spec.with_overrides(overrides)
    except KeyError as err:
        raise ConfigError(f"--set: unknown key {err.args[0]!r}") from None
    except ValidationError as err:
        item = err.errors(include_url=False)[0]
        path = ".".join(str(p) for p in item["loc"])
        value = overrides.get(path, item.get("input"))
        raise ConfigError(f"--set {path}={value}: {item['msg'][:1].lower()}{item['msg'][1:]}, but got {value!r}") from None


def flat_settings(spec: StudySpec) -> dict[str, Any]:
    """Every searchable setting of ``spec`` under its dotted name, e.g. ``train.lr``."""
    flat: dict[str, Any] = {}
    for section in SEARCHABLE_SECTIONS:
        for name, value in getattr(spec, section).model_dump(mode="json").items():
            flat[f"{section}.{name}"] = value
    return flat
