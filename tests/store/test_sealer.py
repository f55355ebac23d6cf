"""The collector's sealer process (:mod:`perpscope.store.sealer`): a sink that seals through it leaves
the same rows as one that seals in a thread, every segment sealed into parts, on recorded Binance trades;
a request for a segment that is gone answers 0 rows, and a broken request is answered with its error."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import polars as pl
import pytest
from tests.ingest.test_live_admit import _batch_frames

from perpscope.core.errors import StoreError
from perpscope.ingest.sink import LiveConfig, Sink
from perpscope.records import TRADES
from perpscope.store import Lake
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
