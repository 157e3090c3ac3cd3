"""Random and grid trials worked out up front: the seeded stream of configurations that
Tune's variant generator draws (:func:`planned_configs`, the dry run's exact list) and
:class:`PlannedSearch`, the searcher of a conditional space (``when:``) or of random search
with ``search.initial``, which hands out only each configuration's active parameters."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
from ray.tune.search import SearchGenerator, Searcher
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.variant_generator import generate_variants

from tfcli.spec import conditions
from tfcli.spec.schema import StudySpec
from tfcli.study.space_domains import param_space, tune_domain
from tfcli.study.space_rules import planned


def _variant_spec(spec: StudySpec) -> dict:
    # Tune's BasicVariantGenerator resolves the whole experiment spec; only "config" holds domains.
    return {"config": param_space(spec)}


def sample_variants(spec: StudySpec, rng, samples: int):
    """The (config) variants Tune's BasicVariantGenerator draws for ``samples`` samples, in order."""
    unresolved = _variant_spec(spec)
    for _ in range(samples):
        for _resolved, variant in generate_variants(unresolved, constant_grid_search=False, random_state=rng):
            yield variant["config"]


def seeded_rng(spec: StudySpec, skip: int = 0):
    """A numpy Generator seeded with ``search.seed`` (as Tune seeds one from an int), advanced
    past ``skip`` samples."""
    rng = np.random.default_rng(spec.search.seed)
    if skip:
        if planned(spec):
            for _ in range(skip):
                _draw(spec, rng)
        else:
            for _ in sample_variants(spec, rng, skip):
                pass
    return rng


def _draw(spec: StudySpec, rng, point: dict | None = None) -> dict[str, Any]:
    """One random configuration of searched values (active ones only), completing ``point``:
    each missing parameter, in sampling order, drawn from its Tune domain with ``rng``."""
    domains: dict[str, Any] = {}

    def sample(path: str):
        if path not in domains:
            domains[path] = tune_domain(path, spec.search.parameters[path], "random")
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
    rng = seeded_rng(spec, skip)
    configs = [dict(c) for c in rerun]
    for point in initial:
        if len(configs) >= num_samples:
            break
        configs.append(_draw(spec, rng, point))
    while len(configs) < num_samples:
        configs.append(_draw(spec, rng))
    return configs[: max(num_samples, len(rerun))]


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


#: Published under :mod:`tfcli.study.space` (see :class:`~tfcli.study.space_optuna.QuantizedOptunaSearch`):
#: the names that pickled study states carry.
PlannedSearcher.__module__ = PlannedSearch.__module__ = "tfcli.study.space"


def variant_searcher(spec: StudySpec, *, skip: int, rerun: list[dict] | None, starting: list[dict], limit: int | None):
    """Random or grid search: a :class:`PlannedSearch` when :func:`~tfcli.study.space_rules.planned`, else Tune's
    ``BasicVariantGenerator`` seeded with ``search.seed``; either continues the seeded stream
    past ``skip`` samples and runs ``rerun`` first."""
    if planned(spec):
        return PlannedSearch(PlannedSearcher(spec, skip=skip, rerun=list(rerun or []), initial=starting, max_concurrent=limit or 0))
    return BasicVariantGenerator(max_concurrent=limit or 0, random_state=seeded_rng(spec, skip), points_to_evaluate=rerun or None)
