"""Collate the next batches in a background thread while the current one trains.

Collation is Python (lists of ids padded into tensors); on many short sequences it costs a few
percent of a CPU step, and on a GPU it leaves the device idle. A single daemon thread runs the
source iterator a few items ahead. Torch releases the GIL inside its kernels, so the thread
runs while the training thread waits on matmuls.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher(Generic[T]):
    """An iterator over ``source`` that is ``depth`` items ahead, computed in a thread.

    Items come out in the source's order; an exception raised by the source is raised by
    ``next()`` at the position where it happened. ``close()`` stops the thread (it is also a
    context manager); an unclosed prefetcher's thread is a daemon, so it never blocks exit.
    """

    def __init__(self, source: Iterable[T], depth: int = 2):
        if depth < 1:
            raise ValueError(f"depth must be >= 1, but got {depth}")
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._fill, args=(iter(source),), name="tfcli-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        """Put ``item`` unless closed meanwhile; False once closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            self._put(_Failure(error))
            return
        self._put(_DONE)

    def __iter__(self) -> "Prefetcher[T]":
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if item is _DONE:
            self._finished = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._finished = True
            raise item.error
        return item

    def close(self) -> None:
        self._stop.set()
        self._finished = True
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=5)

    def __enter__(self) -> "Prefetcher[T]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
