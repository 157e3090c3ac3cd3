"""The only private Ray (and Optuna) APIs that tfcli.study touches, in one place.

Checked against Ray 2.60.0 (and the Optuna that ``ray[tune]`` installed with it); each has
no public equivalent there. ``tests/study/test_ray_internals.py`` fails loudly when one of
them changes shape: re-check this module against the new version before updating the test.

- :func:`set_tuner_callbacks`: ``Tuner._local_tuner`` (the in-process ``TunerInternal``).
  Public callbacks go through ``RunConfig`` and must pickle, and ``Tuner.restore`` has no
  ``run_config``/``callbacks`` argument, so resumed studies would run the stale pickled ones.
- :func:`trial_session`: ``ray.train._internal.session.get_session``, the worker's session,
  which every ``tune.report`` goes through (``ray.tune.report`` calls it as well).
- :func:`distribution_contains`: Optuna's ``BaseDistribution._contains`` (Optuna has no
  public "is this value inside the distribution" check).

Imports Ray only inside functions (trial_wrapper imports this module on every worker).
"""

from __future__ import annotations

from typing import Any

from tfcli.errors import ClusterError

#: The Ray version these were checked against.
CHECKED_RAY_VERSION = "2.60.0"


def set_tuner_callbacks(tuner: Any, callbacks: list) -> None:
    """Set the callbacks on the Tuner's in-process RunConfig, after it was built or restored."""
    internal = getattr(tuner, "_local_tuner", None)
    if internal is None:  # pragma: no cover - only under Ray Client, which connect() refuses
        raise ClusterError("Ray Client mode is not supported; give the GCS address (HOST:6379)")
    internal.get_run_config().callbacks = list(callbacks)


def trial_session() -> Any | None:
    """The Ray session of the trial running in this worker (has ``.report``), or None."""
    try:
        from ray.train._internal.session import get_session
    except ImportError:  # a Ray without this internal
        return None
    return get_session()


def distribution_contains(dist: Any, value: Any) -> bool:
    """Whether ``value`` (external representation) lies inside the Optuna distribution."""
    return bool(dist._contains(dist.to_internal_repr(value)))
