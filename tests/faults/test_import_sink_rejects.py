"""Live capture's writer (ingest/sink.py) under bad rows (issue 21): a NaN or infinite price, a timestamp
too large to store, a negative price or a time before 1970 is dropped and counted — it is never
stored, and the writer keeps writing every later row."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path

import polars as pl
from tests.conftest import FIXTURES

from perpscope.ingest.sink import LiveConfig, Sink
from perpscope.records import CANDLES, TRADES
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.archive import parse_file

KLINES = FIXTURES / "archive/data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2025-10-10.zip"
AGG_TRADES = FIXTURES / "archive/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip"


def real_rows(path: Path) -> list:
    (p,) = parse_file(path)
    return p.record.to_records(p.frame)


def test_bad_live_rows_are_dropped_and_counted_and_the_writer_keeps_writing(tmp_path: Path) -> None:
    bars = real_rows(KLINES)
    trades = real_rows(AGG_TRADES)
    lake = Lake(tmp_path / "data")
    bad_bars = [
        replace(bars[10], close=math.nan),
        replace(bars[11], high=math.inf),
        replace(bars[12], ts_ms=10**20),  # beyond int64 ms
        replace(bars[13], low=-1.0),
        replace(bars[14], ts_ms=-60_000),  # 1969
    ]
    bad_trades = [replace(trades[3], price=-5.0), replace(trades[4], price=math.nan)]

    async def go() -> Sink:
        sink = Sink(lake, LiveConfig(flush_seconds=0.05))
        stop = asyncio.Event()
        writer = asyncio.create_task(sink.run(stop))
        for b in bars[:10]:
            sink.add(CANDLES, b)
        for b in bad_bars:
            sink.add(CANDLES, b)
        for t in [*trades[:3], *bad_trades]:
            sink.add(TRADES, t)
        await asyncio.sleep(0.3)
        assert not writer.done()  # the writer outlived the bad rows
        for b in bars[15:20]:  # rows after the bad ones are still written
            sink.add(CANDLES, b)
        sink.add_frame(TRADES, TRADES.from_records(trades[5:8]))
        await asyncio.sleep(0.3)
        stop.set()
        await writer
        await sink.flush()
        return sink

    sink = asyncio.run(go())
    stored = read(lake, CANDLES, sources="all")
    want = [b.ts_ms for b in [*bars[:10], *bars[15:20]]]
    assert stored.get_column("ts_ms").dt.epoch("ms").to_list() == want
    assert stored.select(pl.col("close").is_finite().all()).item() and stored["low"].min() > 0
    stored_trades = read(lake, TRADES, sources="all").get_column("trade_id").to_list()
    assert stored_trades == [t.trade_id for t in [*trades[:3], *trades[5:8]]]
    assert sink.rejected == {("binance", "candles"): 5, ("binance", "trades"): 2}
    assert sink.rejected_total == 7
    assert sink.last_rejection is not None and sink.last_rejection.startswith("binance ")
    assert sink.flush_errors == 0


def test_a_frame_with_a_bad_row_loses_only_that_row(tmp_path: Path) -> None:
    bars = real_rows(KLINES)
    lake = Lake(tmp_path / "data")
    frame = CANDLES.from_records(bars[:6]).with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.lit(-3.0))
        .otherwise(pl.col("volume_base"))
        .alias("volume_base")
    )

    async def go() -> Sink:
        sink = Sink(lake, LiveConfig())
        sink.add_frame(CANDLES, frame)
        await sink.flush()
        return sink

    sink = asyncio.run(go())
    assert read(lake, CANDLES, sources="all").height == 5
    assert sink.rejected == {("binance", "candles"): 1}
    assert "volume_base -3.0 is negative" in (sink.last_rejection or "")
