"""The background batch prefetcher: order, errors where they happen, closing."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from tfcli.data.prefetch import Prefetcher

pytestmark = pytest.mark.timeout(30)


def test_items_come_out_in_order_and_then_stop():
    with Prefetcher(range(50), depth=3) as stream:
        assert list(stream) == list(range(50))
        assert next(stream, "end") == "end"


def test_an_error_of_the_source_is_raised_at_its_position():
    def source():
        yield 1
        yield 2
        raise KeyError("bad example")

    stream = Prefetcher(source())
    assert next(stream) == 1 and next(stream) == 2
    with pytest.raises(KeyError, match="bad example"):
        next(stream)
    assert next(stream, "end") == "end"


def test_work_happens_ahead_in_another_thread():
    seen = []

    def source():
        for i in itertools.count():
            seen.append(threading.current_thread().name)
            yield i

    stream = Prefetcher(source(), depth=2)
    deadline = time.monotonic() + 5
    while len(seen) < 3 and time.monotonic() < deadline:  # two queued plus one waiting to be
        time.sleep(0.01)
    assert len(seen) == 3 and set(seen) == {"tfcli-prefetch"}
    assert next(stream) == 0
    stream.close()


def test_close_stops_an_endless_source():
    stream = Prefetcher(itertools.count(), depth=1)
    assert next(stream) == 0
    stream.close()
    assert not stream._thread.is_alive()
    assert next(stream, "end") == "end"


def test_depth_must_be_positive():
    with pytest.raises(ValueError):
        Prefetcher([], depth=0)
