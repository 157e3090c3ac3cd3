"""The trial scheduler of a study (``fifo``, ``asha``, ``hyperband``, ``pbt``) and what PBT
perturbs; its time axis is the training ``step``."""

from __future__ import annotations

import functools
from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler, PopulationBasedTraining

from tfcli.spec.fields import field_kind
from tfcli.spec.schema import StudySpec
from tfcli.study.space_domains import tune_domain
from tfcli.study.space_rules import quantized_bounds, searched, snap


def _clip_config(config: dict, rules: dict[str, tuple]) -> dict:
    """PBT's explore step multiplies values by 0.8 or 1.2; keep them inside the study's bounds."""
    for path, (lo, hi, is_int, q) in rules.items():
        if path not in config or isinstance(config[path], bool):
            continue
        value = min(max(config[path], lo), hi)
        if q:
            value = min(max(snap(value, q), lo), hi)
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
        mutations[path] = list(param.values) if param.kind == "values" else tune_domain(path, param, "random")
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
            lo, hi = quantized_bounds(path, param)
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
