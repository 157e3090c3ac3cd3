"""The worker side of a trial: the payload it receives and the wrapper Ray runs.

See :mod:`tfcli.study.runner` for the contract with the trainable and the no-retry policy
that :func:`trial` implements. Ray pickles :func:`trial` by reference and imports this
module on every worker, so it imports Ray only inside functions.
"""

from __future__ import annotations

from typing import Any, Callable

from tfcli.errors import DivergedError
from tfcli.spec.objective import worst_values
from tfcli.spec.trial import spec_from_payload
from tfcli.study.disk_full import hold_trial
from tfcli.study.ray_internals import trial_session

#: Result key of a trial's last report when it failed in a way that must not be retried.
FAILURE_KEY = "tfcli_failure"
#: Result key with the failure's one-line message.
FAILURE_MESSAGE_KEY = "tfcli_failure_message"


def _failure_kind(err: BaseException) -> str | None:
    """``"diverged"`` or ``"out_of_memory"`` for errors a retry cannot fix, else None."""
    if isinstance(err, DivergedError):
        return "diverged"
    if isinstance(err, MemoryError):
        return "out_of_memory"
    if any(cls.__name__ == "OutOfMemoryError" for cls in type(err).__mro__):  # torch.cuda / torch
        return "out_of_memory"
    if isinstance(err, RuntimeError) and "out of memory" in str(err).lower():  # older torch, MPS
        return "out_of_memory"
    return None


def _watch_reported_step() -> dict[str, Any]:
    """Remember the ``step`` of this trial's latest ``tune.report``.

    ``tune.report`` goes through the worker's session object; wrapping that one object's
    ``report`` sees every report of this trial and nothing else (a private Ray API: see
    :mod:`tfcli.study.ray_internals`).
    """
    seen: dict[str, Any] = {}
    try:
        session = trial_session()
        original = session.report
    except Exception:  # a Ray without this internal: the failure report then has no step
        return seen

    def report(metrics, checkpoint=None):
        if isinstance(metrics, dict) and "step" in metrics:
            seen["step"] = metrics["step"]
        return original(metrics, checkpoint=checkpoint)

    session.report = report
    return seen


def trial(config: dict[str, Any], target: Callable, study: dict[str, Any]) -> None:
    """The function Ray runs for each trial: the trainable, with the no-retry policy.

    See :mod:`tfcli.study.runner`. Named plainly because Tune names trials after it.
    """
    from ray import tune

    seen = _watch_reported_step()
    try:
        target(config, study)
    except Exception as err:
        kind = _failure_kind(err)
        if kind is None:
            hold_trial(err)  # a full disk: wait to be stopped, not retried (tfcli.study.disk_full)
            raise
        tune.report(failure_result(study, kind, err, seen.get("step", 0)))


def failure_result(study: dict[str, Any], kind: str, err: BaseException, step: int) -> dict[str, Any]:
    """The last report of a trial that failed for good: the worst value of every objective and
    of the scheduler's metric (so a searcher and a scheduler rank it last), the failure's kind
    and its one-line message."""
    worst = worst_values(spec_from_payload(study))
    message = f"{type(err).__name__}: {err}".splitlines()[0][:500]
    return {"step": step, **worst, FAILURE_KEY: kind, FAILURE_MESSAGE_KEY: message}
