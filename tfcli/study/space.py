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

The parts, each a module with one job:

- :mod:`.space_rules`: what a study searches, decided without Ray (constants, searched
  parameters, quantized bounds, planned or not, the grid's size);
- :mod:`.space_domains`: parameters as Tune domains, the Tuner's ``param_space``;
- :mod:`.space_optuna`: Optuna distributions, the seeded sampler, warm starts and
  ``QuantizedOptunaSearch``;
- :mod:`.space_planned`: the seeded stream of random/grid configurations and ``PlannedSearch``;
- :mod:`.space_searcher`: :func:`make_searcher`, which picks one of the two;
- :mod:`.space_scheduler`: the trial scheduler and PBT's mutations;
- :mod:`.space_dry_run`: :func:`describe_trials` (``study start --dry-run``, the exact
  configurations a run starts with, sampled without Ray running) and ``resume --rebuild``'s
  configurations.

This module is where the rest of tfcli finds them. All but the first import Ray (and
Optuna) at module level, so they load on first use (:func:`__getattr__`): importing this
module stays cheap and starts nothing.
"""

from __future__ import annotations

from typing import Any

from tfcli.study.space_rules import constants, grid_size, planned, quantized_bounds, searched, snap, uses_optuna

__all__ = ["constants", "grid_size", "planned", "quantized_bounds", "searched", "snap", "uses_optuna"]

_DOMAINS = {"param_space", "tuner_param_space", "tune_domain"}
_OPTUNA = {
    "TPE_STARTUP_TRIALS", "QuantizedOptunaSearch", "define_by_run_space", "make_sampler", "objectives", "optuna_space",
    "warm_start", "_suggest_define_by_run",
}
_PLANNED = {"PlannedSearch", "PlannedSearcher", "planned_configs", "sample_variants", "seeded_rng"}
_SCHEDULER = {"PBT_MUTABLE_SECTIONS", "make_scheduler", "pbt_mutations", "scheduler_objective", "_clip_config"}
_DRY_RUN = {"describe_trials", "rebuild_configs"}
#: Names this module had before it was split (tests, and pickles of saved studies, use them).
_RENAMED = {"_random_state": "seeded_rng", "_sample_variants": "sample_variants", "_warm_start": "warm_start"}


def __getattr__(name: str) -> Any:
    """The Ray-backed names, imported from their homes on first use. Among them the classes
    and functions that pickled study states name as ``tfcli.study.space.<name>``
    (``QuantizedOptunaSearch``, ``PlannedSearch``, ``PlannedSearcher``,
    ``_suggest_define_by_run``, ``_clip_config``), so a study saved before the split resumes."""
    wanted = _RENAMED.get(name, name)
    if wanted in _DOMAINS:
        from tfcli.study import space_domains as home
    elif wanted in _OPTUNA:
        from tfcli.study import space_optuna as home
    elif wanted in _PLANNED:
        from tfcli.study import space_planned as home
    elif wanted == "make_searcher":
        from tfcli.study import space_searcher as home
    elif wanted in _SCHEDULER:
        from tfcli.study import space_scheduler as home
    elif wanted in _DRY_RUN:
        from tfcli.study import space_dry_run as home
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(home, wanted)
