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
import logging
import math
import warnings
from typing import Any

from tfcli.errors import StudyError
from tfcli.spec import conditions
from tfcli.spec.rules import OPTUNA_METHODS, field_kind, quantized_indices
from tfcli.spec.schema import ParamSpec, StudySpec
from tfcli.study.ray_internals import distribution_contains, nsga2_sampler_class, optuna_search_study, skip_qmc_samples

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


def uses_optuna(spec: StudySpec) -> bool:
    """Whether ``search.method`` is an Optuna sampler (tpe, gp, cmaes, qmc, nsga2)."""
    return spec.search.method in OPTUNA_METHODS


def planned(spec: StudySpec) -> bool:
    """Whether random/grid trials come from tfcli's :class:`PlannedSearch` (the configurations
    worked out up front, each holding only its active parameters) instead of Tune's variant
    generator: a conditional space (``when:``), or random search with ``search.initial``."""
    if spec.search.method not in ("random", "grid") or not searched(spec):
        return False
    return conditions.is_conditional(spec) or (spec.search.method == "random" and bool(spec.search.initial))


def tuner_param_space(spec: StudySpec) -> dict[str, Any]:
    """What the Tuner gets as ``param_space``.

    Under an Optuna sampler, or a planned random/grid search, the searcher owns the searched
    parameters, so the Tuner only gets the constants (Tune refuses domains in both places,
    and a parameter in the Tuner's space would reach every trial, active or not).
    """
    return constants(spec) if uses_optuna(spec) or planned(spec) else param_space(spec)


def grid_size(spec: StudySpec) -> int | None:
    """Configurations in one pass of the grid (the valid combinations of the ``values``
    parameters: every product when nothing is conditional), or None if not grid."""
    if spec.search.method != "grid":
        return None
    return conditions.grid_count(spec)


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


def _suggest_define_by_run(order: tuple, distributions: dict, parameters: dict, trial) -> None:
    """Ray Tune's define-by-run ``space`` of a conditional study: each parameter, in sampling
    order, is suggested only when its condition holds in the values suggested before it.
    Module level (with plain data bound by ``functools.partial``) so that it pickles."""
    import optuna.distributions as od

    config: dict[str, Any] = {}
    for path in order:
        if not conditions.is_active(parameters, path, config):
            continue
        dist = distributions[path]
        if isinstance(dist, od.CategoricalDistribution):
            config[path] = trial.suggest_categorical(path, list(dist.choices))
        elif isinstance(dist, od.IntDistribution):
            config[path] = trial.suggest_int(path, dist.low, dist.high, step=dist.step, log=dist.log)
        else:
            config[path] = trial.suggest_float(path, dist.low, dist.high, step=dist.step, log=dist.log)
    return None


def define_by_run_space(spec: StudySpec):
    """The define-by-run function OptunaSearch samples a conditional study with."""
    order = tuple(p for p in conditions.sampling_order(spec) if spec.search.parameters[p].kind != "value")
    return functools.partial(_suggest_define_by_run, order, optuna_space(spec), dict(spec.search.parameters))


_CLASSES: dict[str, type] = {}


def _quantized_optuna_search_class():
    """Built on first use so that importing this module does not import Ray.

    The class is published as ``tfcli.study.space.QuantizedOptunaSearch`` (see the module
    ``__getattr__``), so pickle finds it by name when Tune saves and restores a study.
    """
    if "QuantizedOptunaSearch" not in _CLASSES:
        from ray.tune.search.optuna import OptunaSearch

        class QuantizedOptunaSearch(OptunaSearch):
            """OptunaSearch that rounds q_log_uniform samples to their multiples of q, and can be
            told earlier trials of a define-by-run (conditional) space or with several objectives."""

            def __init__(self, *args, rounding: dict | None = None, distributions: dict | None = None, **kwargs):
                self._rounding = dict(rounding or {})
                self._tfcli_distributions = dict(distributions or {})
                super().__init__(*args, **kwargs)

            def suggest(self, trial_id: str):
                with warnings.catch_warnings():
                    # A define-by-run space runs the sampler inside it (gp fits its model there).
                    warnings.filterwarnings("ignore", message="Define-by-run function passed in the `space` argument took")
                    config = super().suggest(trial_id)
                if not isinstance(config, dict) or not self._rounding:
                    return config
                return {k: _round_to_rule(v, self._rounding[k]) if k in self._rounding else v for k, v in config.items()}

            def add_evaluated_point(self, parameters, value, error=False, pruned=False, intermediate_values=None):
                several = isinstance(value, (list, tuple))
                if not several and not callable(self._space):
                    return super().add_evaluated_point(parameters, value, error, pruned, intermediate_values)
                # OptunaSearch refuses a define-by-run space here and passes one value; Optuna's
                # own API takes a trial with its own (active) distributions and a list of values.
                import optuna
                from optuna.trial import TrialState

                state = TrialState.FAIL if error else TrialState.PRUNED if pruned else TrialState.COMPLETE
                values = None if state == TrialState.FAIL else (list(value) if several else [value])
                trial = optuna.trial.create_trial(
                    state=state,
                    values=values,
                    params=dict(parameters),
                    distributions={k: self._tfcli_distributions[k] for k in parameters},
                    intermediate_values=dict(enumerate(intermediate_values)) if intermediate_values else None,
                )
                optuna_search_study(self).add_trial(trial)

        QuantizedOptunaSearch.__module__ = __name__
        QuantizedOptunaSearch.__qualname__ = "QuantizedOptunaSearch"
        _CLASSES["QuantizedOptunaSearch"] = QuantizedOptunaSearch
    return _CLASSES["QuantizedOptunaSearch"]


def _planned_classes():
    """:class:`PlannedSearch` and its searcher, built on first use (Ray is imported here)."""
    if "PlannedSearch" not in _CLASSES:
        import pickle

        from ray.tune.search import SearchGenerator, Searcher

        class PlannedSearcher(Searcher):
            """Hands out configurations worked out up front (:func:`planned_configs`), at most
            ``max_concurrent`` live at once; the plan is made once Tune says how many samples."""

            def __init__(self, spec: StudySpec, *, skip: int, rerun: list[dict], initial: list[dict], max_concurrent: int):
                super().__init__(metric=None, mode=None)
                self._spec = spec
                self._skip, self._rerun, self._initial = skip, list(rerun), list(initial)
                self._limit = max_concurrent
                self._plan: list[dict] | None = None
                self._next = 0
                self._live: set[str] = set()

            def plan(self, num_samples: int) -> None:
                if self._plan is None:
                    self._plan = planned_configs(self._spec, num_samples, skip=self._skip, rerun=self._rerun, initial=self._initial)

            def exhausted(self) -> bool:
                return self._plan is not None and self._next >= len(self._plan)

            def suggest(self, trial_id: str):
                if self._plan is None:
                    self.plan(self._spec.search.num_samples)
                if self._next >= len(self._plan):
                    return Searcher.FINISHED
                if self._limit and len(self._live) >= self._limit:
                    return None
                config = dict(self._plan[self._next])
                self._next += 1
                self._live.add(trial_id)
                return config

            def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
                self._live.discard(trial_id)

            def save(self, checkpoint_path: str) -> None:
                with open(checkpoint_path, "wb") as out:
                    pickle.dump(self.__dict__.copy(), out)

            def restore(self, checkpoint_path: str) -> None:
                with open(checkpoint_path, "rb") as inp:
                    self.__dict__.update(pickle.load(inp))
                self._live = set()  # trials resumed after a restore are not suggested again

        class PlannedSearch(SearchGenerator):
            """Tune's SearchGenerator over a :class:`PlannedSearcher`: it runs the whole plan
            (under grid, every valid combination ``num_samples`` times), not ``num_samples``
            trials."""

            def add_configurations(self, experiments) -> None:
                super().add_configurations(experiments)
                first = experiments[0] if isinstance(experiments, list) else experiments
                samples = first.spec.get("num_samples", 1) if hasattr(first, "spec") else self._spec_samples()
                self.searcher.plan(samples)

            def _spec_samples(self) -> int:
                return self.searcher._spec.search.num_samples

            def is_finished(self) -> bool:
                return self.searcher.exhausted() or self._finished

        for cls in (PlannedSearcher, PlannedSearch):
            cls.__module__ = __name__
            cls.__qualname__ = cls.__name__
            _CLASSES[cls.__name__] = cls
    return _CLASSES["PlannedSearch"], _CLASSES["PlannedSearcher"]


def __getattr__(name: str):
    if name == "QuantizedOptunaSearch":
        return _quantized_optuna_search_class()
    if name in ("PlannedSearch", "PlannedSearcher"):
        return dict(zip(("PlannedSearch", "PlannedSearcher"), _planned_classes()))[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- searcher -----------------------------------------------------------------------------


def objectives(spec: StudySpec) -> tuple[str | list[str], str | list[str]]:
    """What an Optuna searcher optimises: (metric, mode) of the one objective, or lists of
    them (in the study file's order) when the study has several."""
    if len(spec.objectives) > 1:
        return [o.metric for o in spec.objectives], [o.mode for o in spec.objectives]
    return spec.primary_objective.metric, spec.primary_objective.mode


def _objective(spec: StudySpec, metric, mode):
    default_metric, default_mode = objectives(spec)
    return metric or default_metric, mode or default_mode


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
        if planned(spec):
            for _ in range(skip):
                _draw(spec, rng)
        else:
            for _ in _sample_variants(spec, rng, skip):
                pass
    return rng


def _draw(spec: StudySpec, rng, point: dict | None = None) -> dict[str, Any]:
    """One random configuration of searched values (active ones only), completing ``point``:
    each missing parameter, in sampling order, drawn from its Tune domain with ``rng``."""
    domains: dict[str, Any] = {}

    def sample(path: str):
        if path not in domains:
            domains[path] = _tune_domain(path, spec.search.parameters[path], "random")
        return domains[path].sample(random_state=rng)

    return conditions.filled(spec, point or {}, sample)


def planned_configs(spec: StudySpec, num_samples: int, *, skip: int = 0, rerun=(), initial=()) -> list[dict[str, Any]]:
    """The searched values of every trial a :class:`PlannedSearch` runs, in order.

    Grid: ``rerun`` if given, else every valid combination (:func:`conditions.grid_combinations`)
    ``num_samples`` times. Random: ``rerun``, then ``initial`` (each completed by the seeded
    stream), then draws from the stream seeded with ``search.seed`` (advanced past ``skip``
    draws), ``num_samples`` in all.
    """
    if spec.search.method == "grid":
        if rerun:
            return [dict(c) for c in rerun]
        return [dict(c) for _ in range(num_samples) for c in conditions.grid_combinations(spec)]
    rng = _random_state(spec, skip)
    configs = [dict(c) for c in rerun]
    for point in initial:
        if len(configs) >= num_samples:
            break
        configs.append(_draw(spec, rng, point))
    while len(configs) < num_samples:
        configs.append(_draw(spec, rng))
    return configs[: max(num_samples, len(rerun))]


def _warm_start(space: dict, points: list[dict] | None, rewards: list | None, expected=None):
    """The earlier trials Optuna can take: only the searched keys, every value inside its
    distribution (a study file may have changed since), and a real reward when rewards are
    given (failed trials have none; ``-inf``/``inf`` of a diverged trial is kept). A reward
    may be a list (one value per objective). ``expected(point)``: the keys a point must have
    (default: every key of ``space``; under ``when:``, the parameters its values make active)."""
    if not points:
        return None, None
    if rewards is not None and len(rewards) != len(points):
        raise ValueError(
            "points_to_evaluate and evaluated_rewards must have the same length, "
            f"but got {len(points)} and {len(rewards)}"
        )

    def missing(reward) -> bool:
        parts = reward if isinstance(reward, (list, tuple)) else [reward]
        return not parts or any(r is None or (isinstance(r, float) and math.isnan(r)) for r in parts)

    kept_points, kept_rewards = [], []
    for index, point in enumerate(points):
        reward = rewards[index] if rewards is not None else None
        if rewards is not None and missing(reward):
            continue
        keys = list(expected(point)) if expected is not None else list(space)
        if any(k not in point or k not in space for k in keys):
            continue
        try:
            inside = all(distribution_contains(space[k], point[k]) for k in keys)
        except (ValueError, TypeError):
            inside = False
        if inside:
            kept_points.append({k: point[k] for k in keys})
            kept_rewards.append(list(reward) if isinstance(reward, (list, tuple)) else reward)
    if not kept_points:
        return None, None
    return kept_points, (kept_rewards if rewards is not None else None)


def _not_the_qmc_conditions_warning(record: logging.LogRecord) -> bool:
    # Under when: the README says qmc samples conditional parameters at random; once is enough.
    return "does not include any conditions" not in record.getMessage()


_QMC_CONDITIONS_FILTER = _not_the_qmc_conditions_warning


def make_sampler(spec: StudySpec):
    """The seeded Optuna sampler of ``search.method`` (tpe, gp, cmaes, qmc, nsga2)."""
    import optuna

    seed = spec.search.seed
    method = spec.search.method
    quiet = conditions.is_conditional(spec)  # a conditional space is "dynamic": said once in the docs
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=TPE_STARTUP_TRIALS)
    if method == "gp":
        import scipy.optimize  # noqa: F401 - GPSampler's own imports, here rather than in a trial's first suggest
        import torch  # noqa: F401

        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=not quiet)
    if method == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=not quiet)
    if method == "qmc":
        if quiet:
            logging.getLogger("optuna.samplers._qmc").addFilter(_QMC_CONDITIONS_FILTER)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed, warn_independent_sampling=not quiet)
    if method == "nsga2":
        return nsga2_sampler_class()(seed=seed)
    raise StudyError(f"search.method {method!r} is not an Optuna sampler")


def make_searcher(
    spec: StudySpec,
    metric: str | list[str] | None = None,
    mode: str | list[str] | None = None,
    points_to_evaluate: list[dict] | None = None,
    evaluated_rewards: list | None = None,
    *,
    max_concurrent: int | None = None,
    rerun: list[dict] | None = None,
    initial: bool | None = None,
):
    """The search algorithm for ``search.method``, limited to ``max_concurrent`` live trials.

    - ``random`` / ``grid``: Tune's ``BasicVariantGenerator`` seeded with ``search.seed``
      (its ``random_state``). Random search has nothing to learn from earlier trials, so a
      warm start only skips ahead: given ``points_to_evaluate`` (the configs an earlier
      experiment ran) it continues the same seeded stream past that many samples, so an
      extension draws new configurations instead of repeating the first ones. Grid search
      ignores them (an extension repeats the grid). A conditional space (``when:``), or
      random search with ``search.initial``, gets a :class:`PlannedSearch` instead
      (:func:`planned`): the same seeded stream, each configuration holding only its active
      parameters; grid runs only the valid combinations.
    - ``tpe``, ``gp``, ``cmaes``, ``qmc``, ``nsga2``: the seeded Optuna sampler
      (:func:`make_sampler`) in :class:`QuantizedOptunaSearch`, wrapped in a
      ``ConcurrencyLimiter``. With ``evaluated_rewards`` the earlier trials are told to the
      sampler as completed (they do not run again); ``points_to_evaluate`` alone are queued
      to run first. A conditional space is sampled define-by-run (:func:`define_by_run_space`);
      otherwise the searcher gets the Optuna distributions, as before.

    Several objectives (``len(spec.objectives) > 1``): the Optuna searcher gets
    ``metric``/``mode`` lists, and ``evaluated_rewards`` may hold one list of values per
    point, in objective order. Metric and mode default to the study's objective(s).

    ``rerun``: configurations (searched values) to run first, as ``resume --rebuild`` asks
    (see :func:`rebuild_configs`); with them, an Optuna searcher is told the earlier trials
    one by one.

    ``initial``: run ``search.initial`` first. Default (None): only when nothing else is given
    (no points, rewards or rerun), that is when the study starts; extensions and rebuilds should
    pass False.

    ``max_concurrent`` defaults to ``search.max_concurrent`` (None: no limit but the cluster).
    """
    metric, mode = _objective(spec, metric, mode)
    limit = max_concurrent if max_concurrent is not None else spec.search.max_concurrent
    if initial is None:
        initial = not (points_to_evaluate or evaluated_rewards or rerun)
    starting = [dict(p) for p in (spec.search.initial or [])] if initial and spec.search.method != "grid" else []
    # With nothing to search (only constants) TPE has no space; every trial is the same.
    if spec.search.method in ("random", "grid") or not searched(spec):
        skip = len(points_to_evaluate or []) + len(rerun or []) if spec.search.method == "random" else 0
        if planned(spec):
            search_cls, searcher_cls = _planned_classes()
            return search_cls(searcher_cls(spec, skip=skip, rerun=list(rerun or []), initial=starting, max_concurrent=limit or 0))
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(
            max_concurrent=limit or 0, random_state=_random_state(spec, skip), points_to_evaluate=rerun or None
        )

    import optuna
    from ray.tune.search import ConcurrencyLimiter

    # Optuna logs every study and trial at INFO on stderr; the CLI renders its own progress.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = optuna_space(spec)
    conditional = conditions.is_conditional(spec)
    expected = (lambda point: conditions.active_parameters(spec, point)) if conditional else None
    points, rewards = _warm_start(space, points_to_evaluate, evaluated_rewards, expected)
    queued, _ = _warm_start(space, rerun, None, expected)
    sampler = make_sampler(spec)
    searcher = _quantized_optuna_search_class()(
        space=define_by_run_space(spec) if conditional else space,
        metric=metric,
        mode=mode,
        points_to_evaluate=queued if rerun else points,
        evaluated_rewards=None if rerun else rewards,
        sampler=sampler,
        rounding=_rounding_rules(spec),
        distributions=space,
    )
    if rerun and points:
        for point, reward in zip(points, rewards or [None] * len(points)):
            if reward is not None:
                searcher.add_evaluated_point(point, reward)
    told = len(points or []) if rewards else 0
    if spec.search.method == "qmc" and told:
        # The Sobol sequence restarts in each new Optuna study; continue it past the earlier trials.
        skip_qmc_samples(sampler, optuna_search_study(searcher), told)
    for point in starting:
        # Optuna fills what a partial point leaves out; OptunaSearch's own points_to_evaluate
        # needs every parameter of a distribution space.
        optuna_search_study(searcher).enqueue_trial(point)
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


def scheduler_objective(spec: StudySpec) -> tuple[str, str]:
    """(metric, mode) that asha, hyperband and pbt act on: ``spec.scheduler_objective``
    (``scheduler.metric``, else the first objective). It is what ``TuneConfig`` gets."""
    return spec.scheduler_objective.metric, spec.scheduler_objective.mode


def make_scheduler(spec: StudySpec, metric: str | None = None, mode: str | None = None):
    """The trial scheduler for ``scheduler.type``; its time axis is the training ``step``.

    Leave ``metric``/``mode`` as None when the Tuner's ``TuneConfig`` sets them (Tune refuses
    them in both places; the runner gives it :func:`scheduler_objective`); pass them to use
    the scheduler on its own.
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

    Each config is a flat dict by dotted path, constants included, inactive conditional
    parameters left out (as in the trials). Random and grid search replay Tune's own seeded
    variant generation (or tfcli's :func:`planned_configs`), so the list is what ``study
    start`` runs; ``search.initial`` points come first. Under an Optuna sampler the configs
    come from the same seeded sampler a run uses, ``search.initial`` first; those that do not
    depend on results are exact (tpe: the first :data:`TPE_STARTUP_TRIALS`; qmc: all; nsga2:
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
        for config in _sample_variants(spec, _random_state(spec), samples):
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
