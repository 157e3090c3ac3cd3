"""Say what a study waits for when its next trial cannot start for lack of resources.

A trial waits while the CPUs or GPUs it asks for are taken. When the study's own running
trials hold them, that is the normal queue of a study with more trials than room. When
something else holds them (actors of an earlier study or of another Ray job on the same
cluster), or the cluster has fewer than one trial needs, the study would otherwise wait in
silence, possibly for ever. After :data:`WAIT_NOTICE_S` seconds of that, the display is told
one line (``on_notice``; a display without that hook gets a logged warning)::

    waiting for resources: trial 3 needs 1 CPU, 0 of 2 free (1 held by this study's running trial 1, 1 by other Ray work or trials still starting)

The rule (:func:`wait_reason`) is a pure function of the trials and the cluster's
resources; :func:`notice_callback` makes the driver-side Tune callback that applies it.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping, Optional, Sequence

logger = logging.getLogger(__name__)

#: Seconds a trial must wait for resources held outside the study before the study says so.
WAIT_NOTICE_S = 30.0
#: Seconds between two looks at the cluster's free resources (each asks Ray's GCS).
CHECK_EVERY_S = 2.0


def _amount(value: float) -> str:
    return f"{value:g}"


def _resource_name(name: str, count: float) -> str:
    plural = {"CPU": "CPUs", "GPU": "GPUs"}
    return plural.get(name, name) if count != 1 else name


def wait_reason(
    waiting: str,
    need: Mapping[str, float],
    running: Sequence[tuple[str, Mapping[str, float]]],
    free: Mapping[str, float],
    total: Mapping[str, float],
) -> Optional[str]:
    """The notice for trial ``waiting`` (its name), or None when it does not wait on others.

    ``need``: the resources the trial asks for; ``running``: (name, resources) of the study's
    trials that hold theirs; ``free`` and ``total``: the cluster's (``ray.available_resources()``
    and ``ray.cluster_resources()``). None when every resource the trial needs is free, or
    when the study's own running trials hold all that is taken (the normal queue). Tune has no
    public word for a trial whose worker is being started (it holds its resources but is
    still pending), so what the running trials do not hold is "other Ray work or trials
    still starting".
    """
    short = [k for k, v in need.items() if v > 0 and free.get(k, 0.0) < v]
    if not short:
        return None
    parts, outside = [], False
    for name in short:
        own = sum(resources.get(name, 0.0) for _, resources in running)
        others = max(total.get(name, 0.0) - free.get(name, 0.0) - own, 0.0)
        if total.get(name, 0.0) < need[name]:
            outside = True
            parts.append(
                f"needs {_amount(need[name])} {_resource_name(name, need[name])}, "
                f"the cluster has {_amount(total.get(name, 0.0))}"
            )
            continue
        outside = outside or others > 0
        holders = [n for n, resources in running if resources.get(name, 0.0) > 0]
        held = []
        if own:
            trials = ", ".join(holders)
            held.append(f"{_amount(own)} held by this study's running trial{'s' if len(holders) > 1 else ''} {trials}")
        if others:
            held.append(f"{_amount(others)} by other Ray work or trials still starting")
        parts.append(
            f"needs {_amount(need[name])} {_resource_name(name, need[name])}, "
            f"{_amount(free.get(name, 0.0))} of {_amount(total.get(name, 0.0))} free ({', '.join(held)})"
        )
    if not outside:
        return None
    return f"waiting for resources: trial {waiting} " + "; ".join(parts)


def trial_resources(trial: Any) -> dict[str, float]:
    """The resources a Tune trial asks for (the sum of its placement group's bundles)."""
    factory = getattr(trial, "placement_group_factory", None)
    return {k: float(v) for k, v in (factory.required_resources if factory is not None else {}).items()}


class _NoticeHooks:
    """The hooks of the driver-side callback; a plain class so that this module imports no
    Ray (:func:`notice_callback` joins it with Ray's ``Callback``)."""

    def __init__(self, progress: Any, name_of: Callable[[str], str], resources: Callable[[], tuple[dict, dict]]):
        self.progress = progress
        self.name_of = name_of
        self.resources = resources
        self.since: Optional[float] = None
        self.last_check = float("-inf")
        self.told: set[str] = set()

    def on_trial_start(self, iteration, trials, trial, **info):
        self.since = None  # the study moves

    def on_step_end(self, iteration, trials, **info):
        now = time.monotonic()
        if now - self.last_check < CHECK_EVERY_S:
            return
        self.last_check = now
        reason = self.check(trials)
        if reason is None:
            self.since = None
            return
        if self.since is None:
            self.since = now
        if now - self.since >= WAIT_NOTICE_S and reason not in self.told:
            self.told.add(reason)
            self.tell(reason)

    def check(self, trials) -> Optional[str]:
        from ray.tune.experiment import Trial

        pending = [t for t in trials if t.status == Trial.PENDING]
        if not pending:
            return None
        free, total = self.resources()
        running = [(self.name_of(t.trial_id), trial_resources(t)) for t in trials if t.status == Trial.RUNNING]
        return wait_reason(self.name_of(pending[0].trial_id), trial_resources(pending[0]), running, free, total)

    def tell(self, text: str) -> None:
        hook = getattr(self.progress, "on_notice", None)
        if hook is None:
            logger.warning(text)
            return
        try:
            hook(text)
        except Exception:  # a display bug must not end the study
            logger.warning(text)


def _cluster_resources() -> tuple[dict, dict]:
    import ray

    return ray.available_resources(), ray.cluster_resources()


def _trial_name(progress: Any) -> Callable[[str], str]:
    """The trial's number where the display knows it (``number_of``), else Ray's id."""
    number_of = getattr(progress, "number_of", None)

    def name(trial_id: str) -> str:
        number = number_of(trial_id) if number_of is not None else None
        return str(number) if number is not None else trial_id

    return name


_CLASSES: dict[str, type] = {}


def notice_callback(progress: Any):
    """The driver-side Tune callback that tells ``progress`` what the study waits for."""
    if "ResourceNotice" not in _CLASSES:
        from ray.tune import Callback

        class ResourceNotice(_NoticeHooks, Callback):
            pass

        _CLASSES["ResourceNotice"] = ResourceNotice
    return _CLASSES["ResourceNotice"](progress, _trial_name(progress), _cluster_resources)
