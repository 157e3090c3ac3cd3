"""The search algorithm of a study: :func:`make_searcher`.

- ``random`` / ``grid``: Tune's ``BasicVariantGenerator`` seeded with ``search.seed`` (its
  ``random_state``). Random search has nothing to learn from earlier trials, so a warm start
  only skips ahead: given ``points_to_evaluate`` (the configs an earlier experiment ran) it
  continues the same seeded stream past that many samples, so an extension draws new
  configurations instead of repeating the first ones. Grid search ignores them (an extension
  repeats the grid). A conditional space (``when:``), or random search with
  ``search.initial``, gets a :class:`~tfcli.study.space_planned.PlannedSearch` instead
  (:func:`~tfcli.study.space_rules.planned`): the same seeded stream, each configuration
  holding only its active parameters; grid runs only the valid combinations.
- ``tpe``, ``gp``, ``cmaes``, ``qmc``, ``nsga2``: the seeded Optuna sampler
  (:func:`~tfcli.study.space_optuna.make_sampler`) in
  :class:`~tfcli.study.space_optuna.QuantizedOptunaSearch`, wrapped in a
  ``ConcurrencyLimiter``. With ``evaluated_rewards`` the earlier trials are told to the
  sampler as completed (they do not run again); ``points_to_evaluate`` alone are queued to
  run first. A conditional space is sampled define-by-run
  (:func:`~tfcli.study.space_optuna.define_by_run_space`); otherwise the searcher gets the
  Optuna distributions.

Several objectives (``len(spec.objectives) > 1``): the Optuna searcher gets ``metric``/``mode``
lists, and ``evaluated_rewards`` may hold one list of values per point, in objective order.
"""

from __future__ import annotations

from tfcli.spec.schema import StudySpec
from tfcli.study.space_optuna import objectives, optuna_searcher
from tfcli.study.space_planned import variant_searcher
from tfcli.study.space_rules import searched


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
    """The search algorithm for ``search.method``, limited to ``max_concurrent`` live trials
    (what each method gets: the module's docstring).

    Metric and mode default to the study's objective(s).

    ``rerun``: configurations (searched values) to run first, as ``resume --rebuild`` asks
    (see :func:`~tfcli.study.space_dry_run.rebuild_configs`); with them, an Optuna searcher is
    told the earlier trials one by one.

    ``initial``: run ``search.initial`` first. Default (None): only when nothing else is given
    (no points, rewards or rerun), that is when the study starts; extensions and rebuilds should
    pass False.

    ``max_concurrent`` defaults to ``search.max_concurrent`` (None: no limit but the cluster).
    """
    default_metric, default_mode = objectives(spec)
    metric, mode = metric or default_metric, mode or default_mode
    limit = max_concurrent if max_concurrent is not None else spec.search.max_concurrent
    if initial is None:
        initial = not (points_to_evaluate or evaluated_rewards or rerun)
    starting = [dict(p) for p in (spec.search.initial or [])] if initial and spec.search.method != "grid" else []
    # With nothing to search (only constants) TPE has no space; every trial is the same.
    if spec.search.method in ("random", "grid") or not searched(spec):
        skip = len(points_to_evaluate or []) + len(rerun or []) if spec.search.method == "random" else 0
        return variant_searcher(spec, skip=skip, rerun=rerun, starting=starting, limit=limit)
    return optuna_searcher(
        spec, metric, mode, points_to_evaluate, evaluated_rewards, rerun=rerun, starting=starting, limit=limit
    )
