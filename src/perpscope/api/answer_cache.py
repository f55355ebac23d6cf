"""The API's memory of computed answers: bounded in bytes, one computation per key at a time.

Three rules keep a burst of requests (a dashboard user scrolling asks for a new range every time) from
exhausting the server:

- **bounded**: entries are kept least-recently-used first out while their measured size
  (:func:`size_of`) stays under ``max_bytes`` and their count under ``max_entries``; an answer larger than
  a quarter of ``max_bytes`` is handed out but not kept.
- **coalesced**: a request for a key already being computed waits for that computation (identical
  concurrent requests are computed once) instead of starting its own.
- **few at a time**: at most ``max_computing`` outermost computations run at once (a computation nested
  in another, e.g. the market panel inside the dashboard, runs under its parent's permit); the others
  wait their turn, first come first served (:class:`Turns`). Each computation holds a symbol-range's
  frames in memory, so this bounds the peak.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, TypeVar, cast

import numpy as np
import polars as pl

T = TypeVar("T")

#: Default bounds (the API's, documented in docs/api.md): 256 MiB of answers, 256 of them at most, and
#: two computations at once (the machines it runs on have a few cores; polars uses all of them anyway).
DEFAULT_BYTES = 256 * 1024 * 1024
DEFAULT_ENTRIES = 256
DEFAULT_COMPUTING = 2


_SCALARS = (bytes, str, int, float, bool)
_FLOATS = frozenset({float, type(None)})
_FLOAT_BYTES = sys.getsizeof(0.5)


def size_of(value: Any) -> int:
    """Approximate bytes held by ``value``: polars frames and series by their buffers, numpy arrays by
    ``nbytes``, containers, dataclasses and plain objects by their contents (each object counted once)."""
    seen: set[int] = set()

    def walk(v: Any) -> int:
        if id(v) in seen:
            return 0
        seen.add(id(v))
        if isinstance(v, pl.DataFrame | pl.Series):
            return int(v.estimated_size())
        if isinstance(v, np.ndarray):
            return int(v.nbytes)
        if isinstance(v, bytes | str | int | float | bool) or v is None:
            return sys.getsizeof(v)
        if isinstance(v, dict):
            return sys.getsizeof(v) + sum(walk(k) + walk(x) for k, x in v.items())
        if isinstance(v, list | tuple | set | frozenset):
            # the series of an answer are long lists of numbers: their scalars are counted here, without
            # a call per element (the same count as walk's, a fifth of the time on a year of 5m bars)
            total = sys.getsizeof(v)
            if set(map(type, v)) <= _FLOATS:
                # floats and None only (a heatmap's rows, a series): every float has the same size, so
                # the new objects are counted by identity in bulk (the heatmap's grid, 60k floats, took
                # 64 ms element by element, profiled on a first dashboard request)
                new = set(map(id, v)) - seen
                seen.update(new)
                nones = id(None) in new
                return total + _FLOAT_BYTES * (len(new) - nones) + (sys.getsizeof(None) if nones else 0)
            for x in v:
                if isinstance(x, _SCALARS) or x is None:
                    i = id(x)
                    if i not in seen:
                        seen.add(i)
                        total += sys.getsizeof(x)
                else:
                    total += walk(x)
            return total
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return sys.getsizeof(v) + sum(walk(getattr(v, f.name)) for f in dataclasses.fields(v))
        if hasattr(v, "__dict__"):
            return sys.getsizeof(v) + walk(vars(v))
        return sys.getsizeof(v)

    return walk(value)


class Turns:
    """At most ``n`` holders at once, the waiters served in their order of arrival.

    :class:`threading.Semaphore` lets a newly arriving thread take a freed permit before the threads
    already waiting (barging): under a burst some requests then wait for ever longer, which is what the
    99th percentile of latency shows. Here a released permit is handed to the oldest waiter.
    """

    def __init__(self, n: int) -> None:
        self._free = n
        self._waiting: deque[threading.Event] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait for a turn (returns at once while fewer than ``n`` hold one and nobody waits)."""
        with self._lock:
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return
            mine = threading.Event()
            self._waiting.append(mine)
        mine.wait()

    def release(self) -> None:
        """End a turn: hand it to the oldest waiter, if any."""
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1


class AnswerCache:
    """Computed answers by key, bounded in bytes and entries, with request coalescing.

    Parameters
    ----------
    max_bytes : int
        Total measured size of the kept answers (:func:`size_of`), bytes.
    max_entries : int
        Answers kept at most.
    max_computing : int
        Outermost computations running at once; more wait for a permit.
    """

    def __init__(self, max_bytes: int, max_entries: int, max_computing: int) -> None:
        if max_bytes <= 0 or max_entries <= 0 or max_computing <= 0:
            raise ValueError("AnswerCache: max_bytes, max_entries and max_computing must be positive")
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._running: dict[Hashable, Future[Any]] = {}
        self._lock = threading.Lock()
        self._permits = Turns(max_computing)
        self._depth = threading.local()  # nesting of computations on this thread (0: outermost)

    @property
    def bytes_held(self) -> int:
        """Measured size of the kept answers, bytes."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every kept answer (computations under way finish and hand out their result)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def peek(self, key: Hashable) -> Any | None:
        """The kept answer for ``key``, or None: never computes, never waits for a computation."""
        with self._lock:
            hit = self._lookup(key)
        return None if hit is None else hit[0]

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The answer for ``key``: kept, being computed by another request (waited for), or ``make()``."""
        outermost = getattr(self._depth, "n", 0) == 0
        while True:
            with self._lock:
                hit = self._lookup(key)
                if hit is not None:
                    return cast(T, hit[0])
                running = self._running.get(key)
            if running is not None:
                return cast(T, running.result())
            if outermost:
                self._permits.acquire()
            with self._lock:  # while this request waited for a permit another may have started the key
                if key in self._entries or key in self._running:
                    if outermost:
                        self._permits.release()
                    continue
                mine: Future[Any] = Future()
                self._running[key] = mine
            break
        self._depth.n = getattr(self._depth, "n", 0) + 1
        try:
            value = make()
        except BaseException as e:
            mine.set_exception(e)
            raise
        else:
            mine.set_result(value)
            self._keep(key, value)
            return value
        finally:
            self._depth.n -= 1
            with self._lock:
                del self._running[key]
            if outermost:
                self._permits.release()

    def nested(self, fn: Callable[[], T]) -> Callable[[], T]:
        """``fn``, to be run on another thread as a part of the computation running on this one: the
        computations it starts run under this one's permit, as if nested here. Without this they would
        wait for a permit of their own, which never comes while every permit is held by a parent waiting
        for its parts."""
        depth = max(getattr(self._depth, "n", 0), 1)

        def run() -> T:
            before = getattr(self._depth, "n", 0)
            self._depth.n = depth
            try:
                return fn()
            finally:
                self._depth.n = before

        return run

    def _lookup(self, key: Hashable) -> tuple[Any, int] | None:
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
        return hit

    def _keep(self, key: Hashable, value: Any) -> None:
        size = size_of(value)
        if size > self.max_bytes // 4:  # one outsized answer must not push out everything else
            return
        with self._lock:
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._entries) > self.max_entries:
                _, (_, s) = self._entries.popitem(last=False)
                self._bytes -= s
