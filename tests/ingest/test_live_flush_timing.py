"""When a live flush runs and what it takes, against a real loopback websocket server: a flush takes every
frame received before it began (not only those a drain timer already decoded), the next flush follows a
long one at once (the period runs from a flush's start), and the collector's thread switch interval is
set while it runs and restored after."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))

from binance_servers import FakeBinanceRest, FakeBinanceWs
from tests.ingest.test_live import collector, run_until, trade

from perpscope.ingest import socket_loop
from perpscope.store import Lake
from perpscope.store.reader import read


def test_a_flush_commits_frames_its_drain_timer_has_not_decoded(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 recorded-shape trades, fewer than a drain's frame cap, with the drain timer pushed beyond the
    run: only the flushes' own drains can decode them, and every one is committed before the stop."""
    monkeypatch.setattr(socket_loop, "DRAIN_AFTER_S", 3600.0)
    n = 300
    committed: list[int] = []

    async def go() -> None:
        with FakeBinanceRest() as rest:
            async with FakeBinanceWs(lambda c: ([trade(i) for i in range(n)], "hold")) as ws:
                col = collector(rest, ws, lake, ["trades"], flush_seconds=0.05, max_batch=10**9)
                col.sink.on_flush = lambda frames, _ns: committed.extend(df.height for df in frames.values())
                before_stop: list[int] = []

                def all_committed() -> bool:
                    before_stop[:] = [sum(committed)]
                    return before_stop[0] >= n

                await run_until(col, all_committed)
                # counted before the stop (whose last drain and flush would take them anyway)
                assert before_stop == [n], "rows waited for the stop: the flushes did not drain the socket"

    asyncio.run(go())
    assert read(lake, "trades").height == n


def test_a_flush_longer_than_the_period_is_followed_at_once(lake: Lake) -> None:
    """Each flush made to last 0.3 s (its drain hook sleeps, holding the loop as a slow commit would), the
    period 0.2 s: flushes start 0.3 s apart (the next follows at once), not 0.5 s (a period after the end)."""
    flush_s, slow_s = 0.2, 0.3
    starts: list[float] = []

    async def go() -> None:
        with FakeBinanceRest() as rest:
            async with FakeBinanceWs(lambda c: ([trade(i) for i in range(50)], "hold")) as ws:
                col = collector(rest, ws, lake, ["trades"], flush_seconds=flush_s, max_batch=10**9)

                def slow_drain() -> None:
                    starts.append(time.monotonic())
                    time.sleep(slow_s)

                col.sink.drains.append(slow_drain)
                await run_until(col, lambda: len(starts) >= 6, timeout=20)

    asyncio.run(go())
    intervals = sorted(b - a for a, b in itertools.pairwise(starts))
    assert len(intervals) >= 5
    assert intervals[len(intervals) // 2] < slow_s + flush_s / 2, intervals


def test_the_collector_sets_its_switch_interval_while_it_runs(lake: Lake) -> None:
    before = sys.getswitchinterval()
    seen: list[float] = []

    async def go() -> None:
        with FakeBinanceRest() as rest:
            async with FakeBinanceWs(lambda c: ([trade(i) for i in range(10)], "hold")) as ws:
                col = collector(rest, ws, lake, ["trades"], gil_switch_s=0.0003)
                col.sink.on_flush = lambda frames, _ns: seen.append(sys.getswitchinterval())
                await run_until(col, lambda: bool(seen))

    asyncio.run(go())
    assert seen and all(abs(s - 0.0003) < 1e-9 for s in seen)
    assert sys.getswitchinterval() == before
