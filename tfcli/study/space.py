"""A study's search as Ray Tune objects: parameter domains, searcher, scheduler, dry run.

Parameters follow W&B sweeps and map onto Tune domains, keyed by their dotted path
(``"train.lr"``); a trial's config is a flat dict of those paths:

==============  =====================================  =====================================
study file      Tune domain (random, grid, PBT)        Optuna distribution (tpe)
==============  =====================================  =====================================
value           the constant itself                    (constant, not searched)
values          tune.choice / tune.grid_search (grid)  CategoricalDistribution
uniform         tune.uniform(min, max)                 FloatDistribution(min, max)
log_uniform     tune.loguniform(min, max)              FloatDistribution(min, max, log=True)
int_uniform     tune.randint(min, max + 1)             IntDistribution(min, max)
q_uniform       quniform / qrandint (int fields)       Float/IntDistribution(step=q)
q_log_uniform   qloguniform / qlograndint              Float/IntDistribution(log=True), then
                                                       rounded to a multiple of q
==============  =====================================  =====================================

Log bounds are the values themselves. Quantized parameters take the multiples of ``q`` that
lie in ``[min, max]`` (the bounds need not be multiples of ``q``). Ray Tune and Optuna both
have gaps here (Tune refuses float bounds that are not multiples of ``q``; Optuna has no
quantized log distributions), so this module builds those domains itself.

Ray is imported inside the functions, so importing this module stays cheap; nothing here
starts Ray. :func:`describe_trials` (``study start --dry-run``) samples the exact
configurations a run would start with, without Ray running.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from tfcli.errors import StudyError
from tfcli.spec.rules import field_kind, quantized_indices
from tfcli.spec.schema import ParamSpec, StudySpec
from tfcli.study.ray_internals import distribution_contains

#: Trials that Optuna's TPE sampler draws at random before it models results (its default).
#: ``describe_trials`` is exact for these; later tpe trials depend on the results.
TPE_STARTUP_TRIALS = 10


# --- parameters ---------------------------------------------------------------------------


def _snap(value: float, q: float) -> float:
    """``value`` rounded to the nearest multiple of ``q``, without float noise such as 0.30000000000000004."""
    snapped = round(value / q) * q
    decimals = max(0, -math.floor(math.log10(abs(q)))) + 6 if q else 6
    return round(snapped, decimals)


def _quantized_bounds(path: str, param: ParamSpec) -> tuple[float, float]:
    """The smallest and largest multiple of q in [min, max], or a StudyError when there is none."""
    lo_k, hi_k = quantized_indices(param.min, param.max, param.q, log=param.distribution == "q_log_uniform")
    if hi_k < lo_k:
        raise StudyError(
            f"{param.distribution} needs a multiple of q between min and max, but "
            f"search.parameters.{path} has none (min={param.min:g}, max={param.max:g}, q={param.q:g})"
        )
    if field_kind(path) == "int":
        return int(lo_k * int(param.q)), int(hi_k * int(param.q))
    return _snap(lo_k * param.q, param.q), _snap(hi_k * param.q, param.q)


def _tune_domain(path: str, param: ParamSpec, method: str) -> Any:
    from ray import tune

    if param.kind == "value":
        return param.value
    if param.kind == "values":
        values = list(param.values)
        return tune.grid_search(values) if method == "grid" else tune.choice(values)
    is_int = field_kind(path) == "int"
    lo, hi, dist = param.min, param.max, param.distribution
    if dist == "uniform":
        return tune.uniform(lo, hi)
    if dist == "log_uniform":
        return tune.loguniform(lo, hi)
    if dist == "int_uniform":
        return tune.randint(int(lo), int(hi) + 1)  # Tune's upper bound is exclusive
    # Quantized. Tune's integer samplers include the upper bound except for q == 1.
    q = param.q
    qlo, qhi = _quantized_bounds(path, param)
    if is_int:
        if int(q) == 1:
            return tune.randint(qlo, qhi + 1) if dist == "q_uniform" else tune.lograndint(qlo, qhi + 1)
        return tune.qrandint(qlo, qhi, int(q)) if dist == "q_uniform" else tune.qlograndint(qlo, qhi, int(q))
    # Snapped bounds are multiples of q, which tune.quniform / tune.qloguniform insist on.
    return tune.quniform(qlo, qhi, q) if dist == "q_uniform" else tune.qloguniform(qlo, qhi, q)


def param_space(spec: StudySpec) -> dict[str, Any]:
    """One Tune domain (or constant, for ``value``) per searched parameter, by dotted path."""
    return {path: _tune_domain(path, param, spec.search.method) for path, param in spec.search.parameters.items()}


def constants(spec: StudySpec) -> dict[str, Any]:
    """The ``value`` parameters: fixed for every trial, not searched."""
    return {path: p.value for path, p in spec.search.parameters.items() if p.kind == "value"}


def searched(spec: StudySpec) -> list[str]:
    """The parameters a searcher chooses (``values`` and distributions)."""
    return [path for path, p in spec.search.parameters.items() if p.kind != "value"]


def tuner_param_space(spec: StudySpec) -> dict[str, Any]:
    """What the Tuner gets as ``param_space``.

    Under tpe the Optuna searcher owns the searched parameters (its own distributions), so
    the Tuner only gets the constants; Tune refuses domains in both places.
    """
    return constants(spec) if spec.search.method == "tpe" else param_space(spec)


def grid_size(spec: StudySpec) -> int | None:
    """Configurations in one pass of the grid (``values`` lists multiplied), or None if not grid."""
    if spec.search.method != "grid":
        return None
    return math.prod(len(p.values) for p in spec.search.parameters.values() if p.kind == "values")


# --- Optuna (tpe) ---------------------------------------------------------------------------


def _optuna_distribution(path: str, param: ParamSpec):
    import optuna.distributions as od

    if param.kind == "values":
        return od.CategoricalDistribution(list(param.values))
    is_int = field_kind(path) == "int"
    lo, hi, dist = param.min, param.max, param.distribution
    if dist == "uniform":
        return od.FloatDistribution(lo, hi)
    if dist == "log_uniform":
        return od.FloatDistribution(lo, hi, log=True)
    if dist == "int_uniform":
        return od.IntDistribution(int(lo), int(hi))
    qlo, qhi = _quantized_bounds(path, param)
    if dist == "q_uniform":
        if is_int:
            return od.IntDistribution(qlo, qhi, step=int(param.q))
        return od.FloatDistribution(qlo, qhi, step=param.q)
    # q_log_uniform: Optuna has no quantized log distribution; sample log-uniformly between
    # the outermost multiples and round (QuantizedOptunaSearch.suggest).
    if is_int:
        return od.IntDistribution(qlo, qhi, log=True)
    return od.FloatDistribution(qlo, qhi, log=True)


def optuna_space(spec: StudySpec) -> dict[str, Any]:
    """Optuna distributions of the searched parameters, by dotted path."""
    return {path: _optuna_distribution(path, p) for path, p in spec.search.parameters.items() if p.kind != "value"}


def _rounding_rules(spec: StudySpec) -> dict[str, tuple[float, float, float, bool]]:
    """For each q_log_uniform parameter: (q, low, high, is_int), applied to Optuna's samples."""
    rules = {}
    for path, p in spec.search.parameters.items():
        if p.distribution == "q_log_uniform":
            lo, hi = _quantized_bounds(path, p)
            rules[path] = (p.q, lo, hi, field_kind(path) == "int")
    return rules


def _round_to_rule(value: Any, rule: tuple[float, float, float, bool]) -> Any:
    q, lo, hi, is_int = rule
    snapped = min(max(_snap(value, q), lo), hi)
    return int(round(snapped)) if is_int else snapped


_TPE_CLASS = None


def _quantized_optuna_search_class():
    """Built on first use so that importing this module does not import Ray.

    The class is published as ``tfcli.study.space.QuantizedOptunaSearch`` (see the module
    ``__getattr__``), so pickle finds it by name when Tune saves and restores a study.
    """
    global _TPE_CLASS
    if _TPE_CLASS is None:
        from ray.tune.search.optuna import OptunaSearch

        class QuantizedOptunaSearch(OptunaSearch):
            """OptunaSearch that rounds q_log_uniform samples to their multiples of q."""

            def __init__(self, *args, rounding: dict | None = None, **kwargs):
                self._rounding = dict(rounding or {})
                super().__init__(*args, **kwargs)

            def suggest(self, trial_id: str):
                config = super().suggest(trial_id)
                if not isinstance(config, dict) or not self._rounding:
                    return config
                return {k: _round_to_rule(v, self._rounding[k]) if k in self._rounding else v for k, v in config.items()}

        QuantizedOptunaSearch.__module__ = __name__
        QuantizedOptunaSearch.__qualname__ = "QuantizedOptunaSearch"
        _TPE_CLASS = QuantizedOptunaSearch
    return _TPE_CLASS


def __getattr__(name: str):
    if name == "QuantizedOptunaSearch":
        return _quantized_optuna_search_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- searcher -----------------------------------------------------------------------------


def _objective(spec: StudySpec, metric: str | None, mode: str | None) -> tuple[str, str]:
    return metric or spec.objective.metric, mode or spec.objective.mode


def _variant_spec(spec: StudySpec) -> dict:
    # Tune's BasicVariantGenerator resolves the whole experiment spec; only "config" holds domains.
    return {"config": param_space(spec)}


def _sample_variants(spec: StudySpec, rng, samples: int):
    """The (config) variants Tune's BasicVariantGenerator draws for ``samples`` samples, in order."""
    from ray.tune.search.variant_generator import generate_variants

    unresolved = _variant_spec(spec)
    for _ in range(samples):
        for _resolved, variant in generate_variants(unresolved, constant_grid_search=False, random_state=rng):
            yield variant["config"]


def _random_state(spec: StudySpec, skip: int = 0):
    """A numpy Generator seeded with ``search.seed`` (as Tune seeds one from an int), advanced
    past ``skip`` samples."""
    import numpy as np

    rng = np.random.default_rng(spec.search.seed)
    if skip:
        for _ in _sample_variants(spec, rng, skip):
            pass
    return rng


def _warm_start(space: dict, points: list[dict] | None, rewards: list[float] | None):
    """The earlier trials Optuna can take: only the searched keys, every value inside its
    distribution (a study file may have changed since), and a real reward when rewards are
    given (failed trials have none; ``-inf``/``inf`` of a diverged trial is kept)."""
    if not points:
        return None, None
    if rewards is not None and len(rewards) != len(points):
        raise ValueError(
            "points_to_evaluate and evaluated_rewards must have the same length, "
            f"but got {len(points)} and {len(rewards)}"
        )
    kept_points, kept_rewards = [], []
    for index, point in enumerate(points):
        reward = rewards[index] if rewards is not None else None
        if rewards is not None and (reward is None or (isinstance(reward, float) and math.isnan(reward))):
            continue
        if any(k not in point for k in space):
            continue
        try:
            inside = all(distribution_contains(dist, point[k]) for k, dist in space.items())
        except (ValueError, TypeError):
            inside = False
        if inside:
            kept_points.append({k: point[k] for k in space})
            kept_rewards.append(reward)
    if not kept_points:
        return None, None
    return kept_points, (kept_rewards if rewards is not None else None)


def make_searcher(
    spec: StudySpec,
    metric: str | None = None,
    mode: str | None = None,
    points_to_evaluate: list[dict] | None = None,
    evaluated_rewards: list[float] | None = None,
    *,
    max_concurrent: int | None = None,
    rerun: list[dict] | None = None,
):
    """The search algorithm for ``search.method``, limited to ``max_concurrent`` live trials.

    - ``random`` / ``grid``: Tune's ``BasicVariantGenerator`` seeded with ``search.seed``
      (its ``random_state``). Random search has nothing to learn from earlier trials, so a
      warm start only skips ahead: given ``points_to_evaluate`` (the configs an earlier
      experiment ran) it continues the same seeded stream past that many samples, so an
      extension draws new configurations instead of repeating the first ones. Grid search
      ignores them (an extension repeats the grid).
    - ``tpe``: Optuna's TPE via :class:`QuantizedOptunaSearch`, with
      ``TPESampler(seed=search.seed)``, wrapped in a ``ConcurrencyLimiter``. With
      ``evaluated_rewards`` the earlier trials are told to the sampler as completed
      (they do not run again); ``points_to_evaluate`` alone are queued to run first.

    ``rerun``: configurations (searched values) to run first, as ``resume --rebuild`` asks
    (see :func:`rebuild_configs`); with them, ``tpe`` is told the earlier trials one by one.

    ``max_concurrent`` defaults to ``search.max_concurrent`` (None: no limit but the cluster).
    Metric and mode default to the study's objective.
    """
    metric, mode = _objective(spec, metric, mode)
    limit = max_concurrent if max_concurrent is not None else spec.search.max_concurrent
    # With nothing to search (only constants) TPE has no space; every trial is the same.
    if spec.search.method in ("random", "grid") or not searched(spec):
        from ray.tune.search.basic_variant import BasicVariantGenerator

        skip = len(points_to_evaluate or []) + len(rerun or []) if spec.search.method == "random" else 0
        return BasicVariantGenerator(
            max_concurrent=limit or 0, random_state=_random_state(spec, skip), points_to_evaluate=rerun or None
        )

    import optuna
    from ray.tune.search import ConcurrencyLimiter

    # Optuna logs every study and trial at INFO on stderr; the CLI renders its own progress.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = optuna_space(spec)
    points, rewards = _warm_start(space, points_to_evaluate, evaluated_rewards)
    queued, _ = _warm_start(space, rerun, None)
    searcher = _quantized_optuna_search_class()(
        space=space,
        metric=metric,
        mode=mode,
        points_to_evaluate=queued if rerun else points,
        evaluated_rewards=None if rerun else rewards,
        sampler=optuna.samplers.TPESampler(seed=spec.search.seed, n_startup_trials=TPE_STARTUP_TRIALS),
        rounding=_rounding_rules(spec),
    )
    if rerun and points:
        for point, reward in zip(points, rewards or [None] * len(points)):
            if reward is not None:
                searcher.add_evaluated_point(point, reward)
    if limit:
        return ConcurrencyLimiter(searcher, max_concurrent=limit)
    return searcher


# --- scheduler ----------------------------------------------------------------------------


def _clip_config(config: dict, rules: dict[str, tuple]) -> dict:
    """PBT's explore step multiplies values by 0.8 or 1.2; keep them inside the study's bounds."""
    for path, (lo, hi, is_int, q) in rules.items():
        if path not in config or isinstance(config[path], bool):
            continue
        value = min(max(config[path], lo), hi)
        if q:
            value = min(max(_snap(value, q), lo), hi)
        config[path] = int(round(value)) if is_int else float(value)
    return config


#: Sections whose settings can change under a running model (PBT's exploit step).
PBT_MUTABLE_SECTIONS = ("train", "eval")


def pbt_mutations(spec: StudySpec) -> dict[str, Any]:
    """What PBT perturbs: ``scheduler.mutations``, or every searched ``train.*``/``eval.*`` one.

    A running trial continues from another trial's checkpoint, so only settings that leave the
    model and its data unchanged can be perturbed; searched ``model.*`` and ``data.*`` values
    are sampled once per trial. Distributions become Tune domains (resampled, or scaled by
    0.8/1.2 and kept in bounds); ``values`` become lists (resampled, or moved to a neighbour).
    """
    default = [p for p in searched(spec) if p.split(".", 1)[0] in PBT_MUTABLE_SECTIONS]
    names = spec.scheduler.mutations if spec.scheduler.mutations is not None else default
    mutations: dict[str, Any] = {}
    for path in names:
        param = spec.search.parameters[path]
        if param.kind == "value":
            continue
        mutations[path] = list(param.values) if param.kind == "values" else _tune_domain(path, param, "random")
    return mutations


def _pbt_bounds(spec: StudySpec, mutations: dict) -> dict[str, tuple]:
    rules = {}
    for path in mutations:
        param = spec.search.parameters[path]
        if param.kind != "distribution":
            continue
        lo, hi = (param.min, param.max)
        q = param.q if param.distribution in ("q_uniform", "q_log_uniform") else None
        if q:
            lo, hi = _quantized_bounds(path, param)
        rules[path] = (lo, hi, field_kind(path) == "int", q)
    return rules


def make_scheduler(spec: StudySpec, metric: str | None = None, mode: str | None = None):
    """The trial scheduler for ``scheduler.type``; its time axis is the training ``step``.

    Leave ``metric``/``mode`` as None when the Tuner's ``TuneConfig`` sets them (Tune refuses
    them in both places); pass them to use the scheduler on its own.
    """
    from ray.tune.schedulers import (
        ASHAScheduler,
        FIFOScheduler,
        HyperBandScheduler,
        PopulationBasedTraining,
    )

    sched = spec.scheduler
    max_t = sched.max_t or spec.train.max_steps
    if sched.type == "fifo":
        return FIFOScheduler()
    if sched.type == "asha":
        return ASHAScheduler(
            time_attr="step",
            metric=metric,
            mode=mode,
            max_t=max_t,
            grace_period=sched.grace_period or spec.train.eval_every,
            reduction_factor=sched.reduction_factor,
            brackets=sched.brackets,
        )
    if sched.type == "hyperband":
        return HyperBandScheduler(
            time_attr="step", metric=metric, mode=mode, max_t=max_t, reduction_factor=sched.reduction_factor
        )
    mutations = pbt_mutations(spec)
    return PopulationBasedTraining(
        time_attr="step",
        metric=metric,
        mode=mode,
        perturbation_interval=sched.perturbation_interval or spec.train.eval_every,
        hyperparam_mutations=mutations,
        quantile_fraction=sched.quantile_fraction,
        resample_probability=sched.resample_probability,
        custom_explore_fn=functools.partial(_clip_config, rules=_pbt_bounds(spec, mutations)),
    )


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

    Each config is a flat dict by dotted path, constants included. Random and grid search
    replay Tune's own seeded variant generation, so the list is what ``study start`` runs.
    Under tpe the first :data:`TPE_STARTUP_TRIALS` come from the same seeded TPE sampler a
    run uses; later ones depend on results, and are shown as the sampler would draw them
    before any result arrives. Grid runs ``grid_size(spec) * num_samples`` trials. With
    ``search.seed: null`` nothing is reproducible and the list is only an example.
    """
    method = spec.search.method
    if method == "grid":
        total = grid_size(spec) * spec.search.num_samples
    else:
        total = spec.search.num_samples
    count = max(0, min(n, total))
    if method in ("random", "grid") or not searched(spec):
        samples = spec.search.num_samples
        configs = []
        for config in _sample_variants(spec, _random_state(spec), samples):
            if len(configs) >= count:
                break
            configs.append(dict(config))
        return configs
    searcher = make_searcher(spec, max_concurrent=0)
    fixed = constants(spec)
    order = list(spec.search.parameters)
    configs = []
    for index in range(count):
        suggested = searcher.suggest(f"dry-run-{index:05d}")
        merged = {**fixed, **suggested}
        configs.append({k: merged[k] for k in order})
    return configs
