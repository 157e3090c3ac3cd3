"""The fields a study can search, and the values a searched parameter can take."""

from __future__ import annotations

import math
import typing
from typing import Any

from pydantic import ValidationError

from tfcli.spec.schema import SEARCHABLE_SECTIONS, ParamSpec

#: Beyond this many values a space counts as "continuous" for enumeration.
_ENUMERATION_LIMIT = 100_000


def searchable_paths() -> list[str]:
    return [f"{section}.{name}" for section, model in SEARCHABLE_SECTIONS.items() for name in model.model_fields]


def field_annotation(path: str) -> Any:
    section, name = path.split(".", 1)
    return SEARCHABLE_SECTIONS[section].model_fields[name].annotation


def _base_type(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else annotation
    return annotation


def field_kind(path: str) -> str:
    """``int``, ``float`` or ``categorical`` (literals, booleans, strings)."""
    base = _base_type(field_annotation(path))
    if base is int:
        return "int"
    if base is float:
        return "float"
    return "categorical"


def value_problem(path: str, value: Any) -> str | None:
    """Why ``value`` is not allowed for the field at ``path``, or None."""
    section, name = path.split(".", 1)
    try:
        SEARCHABLE_SECTIONS[section].model_validate({name: value})
    except ValidationError as err:
        for item in err.errors(include_url=False):
            if item["loc"][:1] == (name,):
                return f"{item['msg'][:1].lower()}{item['msg'][1:]}, but got {value!r}"
        return str(err)
    except (RecursionError, OverflowError, TypeError) as err:
        return f"not a valid value ({type(err).__name__}): {value!r}"
    return None


def is_integral(number: float | None) -> bool:
    return number is not None and math.isfinite(number) and float(number).is_integer()


def param_values(param: ParamSpec, kind: str) -> list[Any] | None:
    """Every value a parameter can produce, or None when there are too many to list."""
    if param.kind == "value":
        return [param.value]
    if param.kind == "values":
        return list(param.values or [])
    lo, hi = param.min, param.max
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return None
    if param.distribution == "int_uniform" and is_integral(lo) and is_integral(hi):
        if hi - lo + 1 > _ENUMERATION_LIMIT:
            return None
        return list(range(int(lo), int(hi) + 1))
    if param.distribution in ("q_uniform", "q_log_uniform") and param.q and param.q > 0 and kind == "int":
        lo_k, hi_k = quantized_indices(lo, hi, param.q, log=param.distribution == "q_log_uniform")
        if hi_k - lo_k + 1 > _ENUMERATION_LIMIT:
            return None
        return [k * int(param.q) for k in range(lo_k, hi_k + 1)]
    return None


def quantized_indices(lo: float, hi: float, q: float, *, log: bool = False) -> tuple[int, int]:
    """Indices ``k`` of the multiples ``k * q`` a quantized distribution can give in
    ``[lo, hi]`` (bounds rounded inwards; a log scale cannot give 0 or less, so ``k >= 1``).
    The range is empty when the second index is below the first."""

    def index(bound: float, rounding) -> int:
        scaled = bound / q
        nearest = round(scaled)
        return int(nearest) if math.isclose(scaled, nearest, rel_tol=1e-9, abs_tol=1e-9) else int(rounding(scaled))

    lo_k, hi_k = index(lo, math.ceil), index(hi, math.floor)
    return (max(lo_k, 1), hi_k) if log else (lo_k, hi_k)
