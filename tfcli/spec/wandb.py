"""W&B sweep words in a study file: the aliases tfcli accepts, and hints for the rest.

Aliases are only those whose meaning is identical to a tfcli field:

- ``distribution: log_uniform_values`` (and ``q_log_uniform_values``): bounds are the values
  themselves, as tfcli's ``log_uniform`` (W&B's own ``log_uniform`` takes exponents, so it is
  *not* an alias: tfcli reads ``log_uniform`` bounds as values);
- ``distribution: categorical`` next to ``values``: a ``values`` parameter;
- ``goal: maximize | minimize`` in an objective: ``mode: max | min``.

Words of a sweep file that have a tfcli counterpart of another shape (``method: bayes``,
``metric``, ``early_terminate``, ``run_cap``, ``program``, top-level ``parameters``) are not
rewritten; the validation error they cause gets a hint naming the tfcli field.
"""

from __future__ import annotations

from typing import Any

Path_ = tuple[Any, ...]

DISTRIBUTION_ALIASES = {"log_uniform_values": "log_uniform", "q_log_uniform_values": "q_log_uniform"}
GOAL_MODES = {"maximize": "max", "minimize": "min"}

#: Unknown top-level keys of a W&B sweep file, and what to write instead.
SWEEP_KEY_HINTS = {
    "metric": "W&B's metric: {name, goal} is tfcli's objective: {metric: NAME, mode: max|min}",
    "early_terminate": "W&B's early_terminate is tfcli's scheduler: {type: hyperband} (or asha), with grace_period in steps",
    "run_cap": "W&B's run_cap is tfcli's search.num_samples",
    "program": "tfcli trains its built-in Transformer, so there is no program: task:, model: and train: say what runs",
    "method": "the search method goes under search: (search: {method: random|grid|tpe|...})",
    "parameters": "searched parameters go under search: (search: {parameters: {train.lr: {...}}})",
    "command": "tfcli trains its built-in Transformer, so there is no command: task:, model: and train: say what runs",
}

#: Values of a field that W&B users write, and the tfcli value to write instead.
SWEEP_VALUE_HINTS = {
    (("search", "method"), "bayes"): "W&B's bayes is a model-based search: use method: tpe (or gp)",
}


def apply_aliases(data: Any) -> list[tuple[Path_, Path_]]:
    """Rewrite the W&B aliases in a raw study mapping in place; return (old, new) key paths
    whose key was renamed, so the caller can keep line numbers."""
    renamed: list[tuple[Path_, Path_]] = []
    if not isinstance(data, dict):
        return renamed
    search = data.get("search")
    parameters = search.get("parameters") if isinstance(search, dict) else None
    if isinstance(parameters, dict):
        for param in parameters.values():
            if not isinstance(param, dict):
                continue
            distribution = param.get("distribution")
            if isinstance(distribution, str) and distribution in DISTRIBUTION_ALIASES:
                param["distribution"] = DISTRIBUTION_ALIASES[distribution]
            elif distribution == "categorical" and "values" in param:
                del param["distribution"]
    objective = data.get("objective")
    entries = [((("objective",)), objective)] if isinstance(objective, dict) else [
        (("objective", i), o) for i, o in enumerate(objective) if isinstance(o, dict)
    ] if isinstance(objective, list) else []
    for where, entry in entries:
        if "goal" in entry and "mode" not in entry:
            goal = entry.pop("goal")
            entry["mode"] = GOAL_MODES.get(goal, goal)
            renamed.append(((*where, "goal"), (*where, "mode")))
    return renamed


def sweep_hint(path: Path_, value: Any = None) -> str | None:
    """A hint for a W&B sweep word at ``path`` (an unknown key, or a value a field refuses)."""
    if len(path) == 1 and path[0] in SWEEP_KEY_HINTS:
        return SWEEP_KEY_HINTS[str(path[0])]
    if isinstance(value, str):
        return SWEEP_VALUE_HINTS.get((tuple(path), value))
    return None
