"""The trials a study runs, worked out without running it: the dry run's configurations
(``study start --dry-run``, sampled without Ray running) and what ``resume --rebuild`` runs."""

from __future__ import annotations

from typing import Any

from tfcli.spec.schema import StudySpec
from tfcli.study.space_planned import planned_configs, sample_variants, seeded_rng
from tfcli.study.space_rules import constants, grid_size, planned, searched
from tfcli.study.space_searcher import make_searcher


def rebuild_configs(spec: StudySpec, finished: list[dict], unfinished: list[dict], remaining: int) -> list[dict]:
    """The configurations ``resume --rebuild`` runs first, searched values only.

    Grid search: the grid points, repeated as the study's trials repeat them, that no
    finished trial covers, up to ``remaining``. Other methods: the unfinished trials'
    configurations; the searcher draws the rest.
    """
    names = list(spec.search.parameters)

    def searched_values(config: dict) -> dict:
        return {k: config[k] for k in names if k in config}

    if spec.search.method != "grid":
        return [searched_values(c) for c in unfinished][:remaining]
    grid = [searched_values(c) for c in describe_trials(spec.model_copy(update={"search": spec.search.model_copy(update={"num_samples": 1})}), grid_size(spec))]
    wanted = [dict(grid[i % len(grid)]) for i in range(len(finished) + remaining)] if grid else []
    for config in map(searched_values, finished):
        if config in wanted:
            wanted.remove(config)
    return wanted[:remaining]


# --- dry run --------------------------------------------------------------------------------


def describe_trials(spec: StudySpec, n: int) -> list[dict[str, Any]]:
    """The first ``n`` trial configs a run of ``spec`` starts with, sampled without Ray.

    Each config is a flat dict by dotted path, constants included, inactive conditional
    parameters left out (as in the trials). Random and grid search replay Tune's own seeded
    variant generation (or tfcli's :func:`~tfcli.study.space_planned.planned_configs`), so the list is what ``study
    start`` runs; ``search.initial`` points come first. Under an Optuna sampler the configs
    come from the same seeded sampler a run uses, ``search.initial`` first; those that do not
    depend on results are exact (tpe: the first :data:`~tfcli.study.space_optuna.TPE_STARTUP_TRIALS`; qmc: all; nsga2:
    its first generation; gp: its random start; cmaes: the first), later ones are shown as the
    sampler would draw them before any result arrives. Grid runs ``grid_size(spec) * num_samples`` trials. With
    ``search.seed: null`` nothing is reproducible and the list is only an example.
    """
    method = spec.search.method
    if method == "grid":
        total = grid_size(spec) * spec.search.num_samples
    else:
        total = spec.search.num_samples
    count = max(0, min(n, total))
    fixed = constants(spec)
    order = list(spec.search.parameters)
    if planned(spec):
        # The PlannedSearch of a run: inactive parameters are absent, as in the trials' configs.
        starting = [dict(p) for p in (spec.search.initial or [])] if method == "random" else []
        plan = planned_configs(spec, spec.search.num_samples, initial=starting)
        return [{k: merged[k] for k in order if k in merged} for merged in ({**fixed, **c} for c in plan[:count])]
    if method in ("random", "grid") or not searched(spec):
        samples = spec.search.num_samples
        configs = []
        for config in sample_variants(spec, seeded_rng(spec), samples):
            if len(configs) >= count:
                break
            configs.append(dict(config))
        return configs
    searcher = make_searcher(spec, max_concurrent=0)
    configs = []
    for index in range(count):
        suggested = searcher.suggest(f"dry-run-{index:05d}")
        merged = {**fixed, **suggested}
        configs.append({k: merged[k] for k in order if k in merged})
    return configs
