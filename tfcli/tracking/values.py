"""Pure value helpers: MLflow's strings typed back, results flattened to numbers, text trimmed.

Nothing here talks to MLflow or Ray; every module of :mod:`tfcli.tracking` shares these.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import time
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Optional

from tfcli.tracking.tags import STEP_KEY


def error_summary(text: str) -> str:
    """The last line that names the error (``ValueError: boom``), without ANSI colours."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in text.strip().splitlines()]
    lines = [line for line in lines if line and not line.startswith(("Failure #", "^"))]
    return lines[-1] if lines else text.strip()[:200]


def plain_config(config: Mapping[str, Any] | None) -> dict:
    """A trial's config as plain JSON values (Ray may hand numpy scalars)."""
    return {str(k): _plain(v) for k, v in (config or {}).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def numeric_items(data: Mapping[str, Any], skip: Iterable[str] = ()) -> Iterable[tuple[str, float]]:
    skip = set(skip) | {STEP_KEY}
    for key, value in data.items():
        if key in skip:
            continue
        if isinstance(value, Mapping):
            for sub, sub_value in flatten(value, f"{key}/").items():
                sub_number = number(sub_value)
                if sub_number is not None:
                    yield sub, sub_number
            continue
        found = number(value)
        if found is not None:
            yield key, found


def number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def step_of(result: Mapping[str, Any]) -> Optional[int]:
    for key in (STEP_KEY, "training_iteration"):
        value = number(result.get(key))
        if value is not None and math.isfinite(value):
            return int(value)
    return None


def metric_name(name: str) -> str:
    name = re.sub(r"[^/\w.\- :]", "_", str(name))
    return re.sub(r"/+", "/", name).strip("/") or "_"


def param_value(value: Any) -> str:
    if value is None or isinstance(value, (str, bool, int, float)):
        return str(value)
    return json.dumps(_plain(value), sort_keys=True)


_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")


def parse_param(text: str) -> Any:
    """An MLflow param string typed back: ints, floats, booleans, None; else the string."""
    if text == "None":
        return None
    if text in ("True", "False"):
        return text == "True"
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def json_tag(text: Optional[str]) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def float_or_none(text: Optional[str]) -> Optional[float]:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def int_or_none(text: Optional[str]) -> Optional[int]:
    try:
        return int(float(text)) if text is not None else None
    except ValueError:
        return None


def datetime_from_ms(ms: Optional[int]) -> Optional[datetime]:
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc) if ms else None


def now_ms() -> int:
    return int(time.time() * 1000)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(err: Any) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
