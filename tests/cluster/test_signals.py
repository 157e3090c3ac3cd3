"""tfcli.cluster.signals without Ray: what the processes started while connecting inherit, and
SIGTERM going the way of SIGINT. The real study: tests/integration/test_sigterm.py."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tfcli.cluster import signals

pytestmark = pytest.mark.timeout(60)


def blocked_in(status_text: str) -> int:
    line = next(line for line in status_text.splitlines() if line.startswith("SigBlk:"))
    return int(line.split()[1], 16)


def test_processes_started_while_connecting_keep_sigterm_blocked():
    def connect():
        # as ray.init does: start processes, and set a SIGTERM handler of its own
        signal.signal(signal.SIGTERM, lambda *_: None)
        connect.child = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True).stdout
        return True

    with signals.sigterm_as_interrupt():
        assert signals.connect_shielded(connect) is True
        assert signal.getsignal(signal.SIGTERM) is signals._on_sigterm
        assert blocked_in(connect.child) & (1 << (signal.SIGTERM - 1)), "the child may be killed by SIGTERM"
        assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set()), "the driver must still see SIGTERM"
        after = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True).stdout
        assert not blocked_in(after) & (1 << (signal.SIGTERM - 1))


def test_sigterm_calls_the_sigint_handler_and_is_remembered():
    seen = []
    previous_int = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with signals.sigterm_as_interrupt():
            assert not signals.terminated()
            os.kill(os.getpid(), signal.SIGTERM)
            assert seen == [signal.SIGINT]
            assert signals.terminated()
        assert signal.getsignal(signal.SIGTERM) is not signals._on_sigterm
    finally:
        signal.signal(signal.SIGINT, previous_int)
    assert signals.EXIT_TERMINATED == 143


def test_sigterm_with_the_default_sigint_handler_is_a_keyboard_interrupt():
    # Python's default handler, set here: an xdist worker runs with SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _default_sigint_case()
    finally:
        signal.signal(signal.SIGINT, previous)


def _default_sigint_case():
    with signals.sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between bytecodes of the main thread
            pass
