"""Optuna samplers in Ray Tune (``tpe``, ``gp``, ``cmaes``, ``qmc``, ``nsga2``): a study's
parameters as Optuna distributions (the right column of the table in
:mod:`tfcli.study.space`), a conditional space sampled define-by-run, the seeded sampler,
earlier trials told as a warm start, and :class:`QuantizedOptunaSearch`, the searcher."""

from __future__ import annotations

import functools
import logging
import math
import warnings
from typing import Any

import optuna
import optuna.distributions as od
import scipy.optimize  # noqa: F401 - GPSampler's own import, loaded here rather than in a trial's first suggest
from optuna.trial import TrialState
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from tfcli.errors import StudyError
from tfcli.spec import conditions
from tfcli.spec.constraints import Constraint, constraints_of, violations
from tfcli.spec.fields import field_kind
from tfcli.spec.schema import ParamSpec, StudySpec
from tfcli.study.optuna_internals import nsga2_sampler_class, skip_qmc_samples
from tfcli.study.ray_internals import distribution_contains, optuna_search_study, optuna_search_trial
from tfcli.study.space_rules import quantized_bounds, snap

#: Trials that Optuna's TPE sampler draws at random before it models results (its default).
#: ``describe_trials`` is exact for these; later tpe trials depend on the results.
TPE_STARTUP_TRIALS = 10


def _optuna_distribution(path: str, param: ParamSpec):
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
    qlo, qhi = quantized_bounds(path, param)
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
            lo, hi = quantized_bounds(path, p)
            rules[path] = (p.q, lo, hi, field_kind(path) == "int")
    return rules


def _round_to_rule(value: Any, rule: tuple[float, float, float, bool]) -> Any:
    q, lo, hi, is_int = rule
    snapped = min(max(snap(value, q), lo), hi)
    return int(round(snapped)) if is_int else snapped


def _suggest_define_by_run(order: tuple, distributions: dict, parameters: dict, trial) -> None:
    """Ray Tune's define-by-run ``space`` of a conditional study: each parameter, in sampling
    order, is suggested only when its condition holds in the values suggested before it.
    Module level (with plain data bound by ``functools.partial``) so that it pickles."""
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


class QuantizedOptunaSearch(OptunaSearch):
    """OptunaSearch that rounds q_log_uniform samples to their multiples of q, can be told
    earlier trials of a define-by-run (conditional) space or with several objectives, and tells
    the sampler each trial's ``search.constraints`` violations.

    Published as ``tfcli.study.space.QuantizedOptunaSearch`` (that module's ``__getattr__``
    hands it out), the name pickles have carried since before this module: Tune pickles the
    searcher with a study's state, and a study saved by an earlier tfcli still resumes.
    """

    def __init__(
        self, *args, rounding: dict | None = None, distributions: dict | None = None, constraints: list | None = None, **kwargs
    ):
        self._rounding = dict(rounding or {})
        self._tfcli_distributions = dict(distributions or {})
        self._tfcli_constraints: list[Constraint] = list(constraints or [])
        super().__init__(*args, **kwargs)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        """Set the trial's constraint violations on its last result (Optuna's
        ``Trial.set_constraint``, which TPE, GP and NSGA-II read), then tell the study."""
        constraints = self._constraints()
        trial = optuna_search_trial(self, trial_id) if constraints else None
        if trial is not None:
            for constraint, violation in zip(constraints, violations(constraints, result or {})):
                trial.set_constraint(str(constraint), violation)
        return super().on_trial_complete(trial_id, result, error)

    def _constraints(self) -> list[Constraint]:
        return getattr(self, "_tfcli_constraints", None) or []  # absent in a searcher pickled before constraints

    def _told_constraints(self) -> dict[str, float] | None:
        """What an earlier trial told as a warm start holds of each constraint: 0.0, nothing known
        to break it (GP needs every trial to name the same constraints)."""
        return {str(c): 0.0 for c in self._constraints()} or None

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
        if not several and not callable(self._space) and not self._constraints():
            return super().add_evaluated_point(parameters, value, error, pruned, intermediate_values)
        # OptunaSearch refuses a define-by-run space here and passes one value; Optuna's
        # own API takes a trial with its own (active) distributions and a list of values.
        state = TrialState.FAIL if error else TrialState.PRUNED if pruned else TrialState.COMPLETE
        values = None if state == TrialState.FAIL else (list(value) if several else [value])
        trial = optuna.trial.create_trial(
            state=state,
            values=values,
            params=dict(parameters),
            distributions={k: self._tfcli_distributions[k] for k in parameters},
            intermediate_values=dict(enumerate(intermediate_values)) if intermediate_values else None,
            constraints=self._told_constraints() if state != TrialState.FAIL else None,
        )
        optuna_search_study(self).add_trial(trial)


QuantizedOptunaSearch.__module__ = "tfcli.study.space"


def objectives(spec: StudySpec) -> tuple[str | list[str], str | list[str]]:
    """What an Optuna searcher optimises: (metric, mode) of the one objective, or lists of
    them (in the study file's order) when the study has several."""
    if len(spec.objectives) > 1:
        return [o.metric for o in spec.objectives], [o.mode for o in spec.objectives]
    return spec.primary_objective.metric, spec.primary_objective.mode


def warm_start(space: dict, points: list[dict] | None, rewards: list | None, expected=None):
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
    seed = spec.search.seed
    method = spec.search.method
    quiet = conditions.is_conditional(spec)  # a conditional space is "dynamic": said once in the docs
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=TPE_STARTUP_TRIALS)
    if method == "gp":
        import torch  # noqa: F401 - GPSampler's own import, here rather than in a trial's first suggest

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


def optuna_searcher(spec: StudySpec, metric, mode, points_to_evaluate, evaluated_rewards, *, rerun, starting, limit):
    """The seeded sampler (:func:`make_sampler`) in :class:`QuantizedOptunaSearch`, wrapped
    in a ``ConcurrencyLimiter`` when ``limit`` is set (see
    :func:`tfcli.study.space_searcher.make_searcher` for what the arguments mean)."""
    # Optuna logs every study and trial at INFO on stderr; the CLI renders its own progress.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = optuna_space(spec)
    conditional = conditions.is_conditional(spec)
    expected = (lambda point: conditions.active_parameters(spec, point)) if conditional else None
    points, rewards = warm_start(space, points_to_evaluate, evaluated_rewards, expected)
    queued, _ = warm_start(space, rerun, None, expected)
    sampler = make_sampler(spec)
    searcher = QuantizedOptunaSearch(
        space=define_by_run_space(spec) if conditional else space,
        metric=metric,
        mode=mode,
        points_to_evaluate=queued if rerun else points,
        evaluated_rewards=None if rerun else rewards,
        sampler=sampler,
        rounding=_rounding_rules(spec),
        distributions=space,
        constraints=constraints_of(spec.search.constraints),
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
