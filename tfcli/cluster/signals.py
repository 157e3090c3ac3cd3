"""SIGTERM stops a study as Ctrl-C does.

SIGTERM is how batch systems and service managers stop a program: SLURM at the time limit
(to every process of the job step, then SIGKILL after ``KillWait``, 30 s by default),
``timeout`` (to the process group), ``kill PID``, ``docker stop`` and systemd (every process
of the unit). A study treats it as one Ctrl-C: Tune stops the trials, saves the experiment,
the runs are recorded as killed and the study resumes later; the CLI exits 143 (128 + 15).

Two things stand in the way, and this module handles both:

- ``ray.init`` sets a SIGTERM handler in the driver that calls ``sys.exit`` wherever the
  driver is (inside Tune's loop: tracebacks, runs left RUNNING). :func:`connect_shielded`
  puts :func:`_on_sigterm` back after Ray started; it calls whatever handles SIGINT at that
  moment (Tune's handler during ``fit()``, else :class:`~tfcli.study.runner._InterruptGuard`).
- The processes of an embedded Ray (GCS, raylet, workers) are the driver's children: in its
  process group and, under SLURM or systemd, in its job step or unit. Ray blocks SIGINT in
  them (``preexec_fn`` of its process launcher), so Ctrl-C reaches the driver only, but not
  SIGTERM, which would kill the Ray that Tune needs to stop the trials and save their state.
  A blocked signal stays blocked across ``fork`` and ``exec``, so :func:`connect_shielded`
  starts Ray with SIGTERM blocked in the calling thread: Ray's processes never see it (they
  still end with the driver: ``ray.shutdown`` and fate-sharing kill them with SIGKILL).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

#: The exit status of a study stopped by SIGTERM, as a shell reports a process it ended.
EXIT_TERMINATED = 128 + signal.SIGTERM

_received = {"sigterm": False}


def terminated() -> bool:
    """Whether this process received SIGTERM while it ran a study."""
    return _received["sigterm"]


def _on_sigterm(signum, frame) -> None:
    _received["sigterm"] = True
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    elif handler != signal.SIG_IGN:
        raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM handled as SIGINT (by :func:`_on_sigterm`) until the block ends (main thread only)."""
    _received["sigterm"] = False
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def connect_shielded(connect: Callable[[], bool]) -> bool:
    """``connect()`` (which may start an embedded Ray) with SIGTERM blocked, so that the
    processes it starts keep SIGTERM blocked; then SIGTERM handled by :func:`_on_sigterm`
    again (``ray.init`` replaced it). A SIGTERM that came meanwhile is handled on return."""
    if not _main_thread():
        return connect()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        started = connect()
        signal.signal(signal.SIGTERM, _on_sigterm)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return started
