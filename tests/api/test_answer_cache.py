"""The API's answer cache: bounded in bytes and entries, identical concurrent requests computed once,
at most ``max_computing`` computations at a time, errors handed to every waiter."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest

from perpscope.api.answer_cache import AnswerCache, Turns, size_of


def test_size_of_counts_frames_arrays_and_containers_once() -> None:
    df = pl.DataFrame({"x": np.arange(100_000, dtype=np.int64)})
    arr = np.zeros(50_000)
    assert size_of(df) == df.estimated_size() == 800_000
    assert size_of(arr) == 400_000
    nested = {"a": df, "b": [arr, arr], "c": (b"x" * 1000,)}
    assert 1_200_000 < size_of(nested) < 1_210_000  # the array shared twice is counted once
    # a series as the answers send it: each distinct number once, a repeated object (None) once
    xs = [float(i) + 0.5 for i in range(1000)]
    series = [*xs, None, None, xs[0], [None, 2.5]]
    want = sys.getsizeof(series) + sum(map(sys.getsizeof, xs)) + sys.getsizeof(None)
    want += sys.getsizeof(series[-1]) + sys.getsizeof(2.5)
    assert size_of(series) == want


def test_bytes_bound_evicts_least_recently_used() -> None:
    c = AnswerCache(max_bytes=900_000, max_entries=100, max_computing=2)

    def kb200() -> np.ndarray:
        return np.zeros(25_000)  # 200 kB

    for k in range(4):
        c.get(k, kb200)
    c.get(0, lambda: pytest.fail("0 was kept"))  # 0 is now the most recently used
    c.get(4, kb200)
    c.get(5, kb200)  # 1.2 MB asked for: the least recently used (1, then 2) went
    assert c.bytes_held == 800_000
    assert len(c) == 4
    made: list[int] = []
    for k in (0, 3, 4, 5):
        c.get(k, lambda k=k: made.append(k))  # type: ignore[misc]
    assert made == []
    c.get(1, lambda: made.append(1))
    assert made == [1]


def test_entries_bound_and_outsized_answers_are_not_kept() -> None:
    c = AnswerCache(max_bytes=1_000_000, max_entries=2, max_computing=1)
    for k in range(5):
        c.get(k, lambda: 1)
    assert len(c) == 2
    big = np.zeros(40_000)  # 320 kB > a quarter of the bound: handed out, not kept
    assert c.get("big", lambda: big) is big
    assert c.get("big", lambda: "again") == "again"


def test_identical_concurrent_requests_are_computed_once() -> None:
    c = AnswerCache(max_bytes=10_000_000, max_entries=10, max_computing=2)
    calls = 0
    started = threading.Event()

    def slow() -> str:
        nonlocal calls
        calls += 1
        started.set()
        time.sleep(0.3)
        return "answer"

    with ThreadPoolExecutor(20) as ex:
        got = list(ex.map(lambda _: c.get("k", slow), range(20)))
    assert got == ["answer"] * 20
    assert calls == 1


def test_an_error_reaches_every_waiter_and_is_not_kept() -> None:
    c = AnswerCache(max_bytes=10_000_000, max_entries=10, max_computing=2)
    calls = 0

    def fails() -> str:
        nonlocal calls
        calls += 1
        time.sleep(0.2)
        raise LookupError("no such thing")

    def ask(_: int) -> str:
        try:
            return c.get("k", fails)
        except LookupError as e:
            return str(e)

    with ThreadPoolExecutor(8) as ex:
        assert list(ex.map(ask, range(8))) == ["no such thing"] * 8
    assert calls == 1
    assert c.get("k", lambda: "ok now") == "ok now"  # a failure is not remembered


def test_at_most_max_computing_run_at_once_and_nesting_does_not_deadlock() -> None:
    c = AnswerCache(max_bytes=10_000_000, max_entries=100, max_computing=2)
    running = 0
    peak = 0
    lock = threading.Lock()

    def inner(k: int) -> int:
        return k * 10

    def outer(k: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        # a nested computation (the market panel inside the dashboard) runs under the outer permit,
        # including one another thread is computing as its own outermost request
        v = c.get(("inner", k % 3), lambda: inner(k % 3))
        with lock:
            running -= 1
        return v

    def request(k: int) -> int:
        if k % 2:
            return c.get(("inner", k % 3), lambda: inner(k % 3))
        return c.get(("outer", k), lambda: outer(k))

    with ThreadPoolExecutor(16) as ex:
        out = list(ex.map(request, range(40)))
    assert out == [(k % 3) * 10 for k in range(40)]
    assert peak <= 2


def test_parts_computed_on_other_threads_run_under_their_parents_permit() -> None:
    """The dashboard computes its heatmap and cascade on two threads beside its regime reading: with
    every permit held by parents waiting for such parts, the parts' own computations must not wait for
    a permit (they would for ever), and the parent's thread keeps its own nesting."""
    c = AnswerCache(max_bytes=10_000_000, max_entries=100, max_computing=1)
    depths: list[int] = []

    def part(k: int) -> int:
        depths.append(c._depth.n)
        return c.get(("part", k), lambda: k + 1)

    def parent() -> int:
        with ThreadPoolExecutor(2) as ex:
            futs = [ex.submit(c.nested(lambda k=k: part(k))) for k in range(2)]  # type: ignore[misc]
            return sum(f.result(timeout=10) for f in futs)

    with ThreadPoolExecutor(1) as outer:
        assert outer.submit(lambda: c.get(("parent",), parent)).result(timeout=20) == 3
    assert depths == [1, 1]
    assert c.peek(("part", 0)) == 1 and c.peek(("part", 1)) == 2


def test_clear_forgets_answers() -> None:
    c = AnswerCache(max_bytes=1_000, max_entries=10, max_computing=1)
    c.get("k", lambda: 1)
    c.clear()
    assert len(c) == 0 and c.bytes_held == 0
    assert c.get("k", lambda: 2) == 2


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        AnswerCache(max_bytes=0, max_entries=1, max_computing=1)


def test_turns_are_first_come_first_served() -> None:
    turns = Turns(1)
    turns.acquire()
    order: list[int] = []
    threads = []
    for k in range(6):
        t = threading.Thread(target=lambda k=k: (turns.acquire(), order.append(k), turns.release()))
        t.start()
        threads.append(t)
        time.sleep(0.05)  # arrive in order 0, 1, 2, …
    turns.release()
    for t in threads:
        t.join(timeout=5)
    assert order == list(range(6))


def test_a_freed_turn_goes_to_a_waiter_not_to_a_newcomer() -> None:
    # threading.Semaphore lets the releasing thread (or any newcomer) take the permit back before the
    # thread already waiting: under a burst, some requests waited for ever (the p99)
    turns = Turns(1)
    turns.acquire()
    order: list[str] = []
    waiter = threading.Thread(target=lambda: (turns.acquire(), order.append("waiter"), turns.release()))
    waiter.start()
    time.sleep(0.1)  # the waiter is queued
    turns.release()
    turns.acquire()  # a newcomer right after the release
    order.append("newcomer")
    turns.release()
    waiter.join(timeout=5)
    assert order == ["waiter", "newcomer"]
