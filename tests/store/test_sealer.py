"""The collector's sealer process (:mod:`perpscope.store.sealer`): a sink that seals through it leaves the
same rows as one that seals in a thread, every segment sealed into parts, on recorded Binance trades; a
request for a segment that is gone answers 0 rows, and a broken request is answered with its error. An
idle sealer (``seal_idle``) runs every thread under ``SCHED_IDLE``; a hurry raises them until its next
segment; a sealer that never gets a core (stopped here) is replaced once a segment is full behind its
seal, and every row is sealed once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import polars as pl
import pytest
from tests.ingest.test_live_admit import _batch_frames

from perpscope.core.errors import StoreError
from perpscope.ingest.sink import LiveConfig, Sink
from perpscope.records import TRADES
from perpscope.store import Lake
from perpscope.store import sealer as sealer_mod
from perpscope.store.live_log import log_files
from perpscope.store.reader import read
from perpscope.store.sealer import Sealer

NOW_MS = time.time_ns() // 1_000_000


def _capture(root: Path, trades: pl.DataFrame, *, process: bool) -> Sink:
    """Three flushes of 1,000 trades, each segment sealed as soon as it holds a byte."""

    async def run() -> Sink:
        sink = Sink(Lake(root), LiveConfig(max_batch=10**9, seal_bytes=1, seal_process=process))
        for i in range(0, trades.height, 1000):
            sink.add_frame(TRADES, trades.slice(i, 1000))
            await sink.flush()
            if sink.sealing is not None:
                await sink.sealing
        await sink.settle()
        return sink

    return asyncio.run(run())


def test_sealing_in_the_sealer_process_stores_what_a_thread_does(shared_data: Path, tmp_path: Path) -> None:
    trades = (
        _batch_frames(shared_data)["trades"].head(3000).with_columns(pl.lit(NOW_MS - 60_000).alias("ts_ms"))
    )
    by_process = _capture(tmp_path / "process", trades, process=True)
    by_thread = _capture(tmp_path / "thread", trades, process=False)
    assert by_process.last_error is None
    assert by_process.seals == by_thread.seals >= 3
    # every segment became parts: no log left, and the store reads the same rows either way
    assert log_files(by_process.lake, TRADES) == log_files(by_thread.lake, TRADES) == []
    got, want = read(by_process.lake, TRADES), read(by_thread.lake, TRADES)
    assert got.height == 3000
    assert got.drop("ingested_ms", strict=False).equals(want.drop("ingested_ms", strict=False))


def test_the_sealer_answers_a_missing_segment_and_a_bad_request(tmp_path: Path) -> None:
    async def run() -> None:
        sealer = Sealer()
        try:
            # a segment sealed meanwhile by someone else: nothing to do
            assert await sealer.seal(tmp_path, TRADES.name, tmp_path / "gone.arrows") == (0, ())
            with pytest.raises(StoreError, match="KeyError"):
                await sealer.seal(tmp_path, "no_such_record", tmp_path / "gone.arrows")
            # the process answered the error and is still there for the next segment
            assert await sealer.seal(tmp_path, TRADES.name, tmp_path / "gone.arrows") == (0, ())
        finally:
            await sealer.close()

    asyncio.run(run())


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see a process's libraries")
def test_a_sealer_waited_for_has_its_imports_done_and_a_hasty_one_still_answers(tmp_path: Path) -> None:
    """The collector waits for the sealer's imports before it captures (they cost ~0.4 s of CPU beside
    the capture's first second otherwise): when :meth:`Sealer.ready` says so, Arrow is loaded in it.
    A sealer whose ready line was not waited for (too slow, or started by a seal) still answers its
    first request with that request's answer, not its ready line."""

    async def run() -> None:
        waited, hasty = Sealer(), Sealer()
        try:
            assert await waited.ready()
            assert waited.proc is not None and "libarrow" in _maps(waited.proc.pid)
            assert await waited.seal(tmp_path, TRADES.name, tmp_path / "gone.arrows") == (0, ())
            assert not await hasty.ready(timeout_s=0.0)  # no sealer imports polars and Arrow that fast
            with pytest.raises(StoreError, match="KeyError"):
                await hasty.seal(tmp_path, "no_such_record", tmp_path / "gone.arrows")
            assert await hasty.seal(tmp_path, TRADES.name, tmp_path / "gone.arrows") == (0, ())
        finally:
            await waited.close()
            await hasty.close()

    asyncio.run(run())


def _policies(pid: int) -> set[int]:
    return {os.sched_getscheduler(int(t)) for t in os.listdir(f"/proc/{pid}/task")}


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="this system has no SCHED_IDLE")
def test_every_thread_of_the_sealer_is_idle_scheduled_and_a_hurry_raises_it_until_its_next_segment(
    tmp_path: Path,
) -> None:
    async def run() -> None:
        sealer = Sealer(idle=True)
        try:
            proc = await sealer.start()
            assert await sealer.seal(tmp_path, TRADES.name, tmp_path / "gone.arrows") == (0, ())
            assert _policies(proc.pid) == {os.SCHED_IDLE}  # polars' and Arrow's threads too
            # a seal in progress (the sealer stopped: it cannot answer before the hurry)
            os.kill(proc.pid, signal.SIGSTOP)
            pending = asyncio.create_task(sealer.seal(tmp_path, TRADES.name, tmp_path / "gone.arrows"))
            while sealer.since is None:
                await asyncio.sleep(0.01)
            if not sealer_mod._set_policy(False, proc.pid):
                os.kill(proc.pid, signal.SIGCONT)
                await pending
                pytest.skip("this process may not raise a thread out of SCHED_IDLE (no CAP_SYS_NICE)")
            sealer_mod._set_policy(True, proc.pid)
            assert sealer.hurry() and not sealer.hurry()  # once per seal
            assert _policies(proc.pid) == {os.SCHED_OTHER}
            os.kill(proc.pid, signal.SIGCONT)
            assert await pending == (0, ())
            assert await sealer.seal(tmp_path, TRADES.name, tmp_path / "gone.arrows") == (0, ())
            assert _policies(proc.pid) == {os.SCHED_IDLE}  # the next segment: idle again
            assert sealer.proc is proc and sealer.hurried == 1
        finally:
            if sealer.proc is not None:
                os.kill(sealer.proc.pid, signal.SIGCONT)
            await sealer.close()

    asyncio.run(run())


def test_a_sealer_that_never_gets_a_core_is_replaced_once_a_segment_is_full_behind_its_seal(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sealer is stopped (a SCHED_IDLE process on cores that are never idle) and may not be raised
    in place (no CAP_SYS_NICE): the sink, seeing a second segment full behind the seal, has it killed
    and the segment sealed by a new sealer; the store then holds every row once."""
    monkeypatch.setattr(sealer_mod, "_set_policy", lambda idle, pid=None: False)
    trades = (
        _batch_frames(shared_data)["trades"].head(3000).with_columns(pl.lit(NOW_MS - 60_000).alias("ts_ms"))
    )

    async def run() -> Sink:
        cfg = LiveConfig(max_batch=10**9, seal_bytes=1, seal_age_s=3600, seal_idle=True)
        sink = Sink(Lake(tmp_path), cfg)
        await sink.start_sealer()
        first = sink._sealer.proc
        assert first is not None
        os.kill(first.pid, signal.SIGSTOP)
        sink.add_frame(TRADES, trades.slice(0, 1000))
        await sink.flush()  # its segment goes to the stopped sealer
        assert sink.sealing is not None
        await asyncio.sleep(0.2)
        assert not sink.sealing.done()
        sink.add_frame(TRADES, trades.slice(1000, 1000))
        await sink.flush()  # a segment full behind the seal: hurried, the stopped sealer killed
        await asyncio.wait_for(sink.sealing, 60)
        assert sink._sealer.proc is not first and sink.seals_hurried == 1
        sink.add_frame(TRADES, trades.slice(2000, 1000))
        await sink.flush()
        await sink.settle()
        return sink

    sink = asyncio.run(run())
    # the first segment (1,000 rows), then the second with the last flush's rows (2,000)
    assert sink.last_error is None and sink.seals == 2
    assert log_files(sink.lake, TRADES) == []
    got = read(sink.lake, TRADES)
    assert got.height == 3000 and got.get_column("trade_id").n_unique() == 3000
