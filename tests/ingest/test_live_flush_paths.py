"""A flush is checked on the event loop when small (:data:`perpscope.ingest.sink.INLINE_ROWS`) and in
the worker thread when large; both commit the same rows to the log and refuse the same rows with the
same reasons — on the batch parser's frames of recorded trades and liquidations with bad rows put in."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import polars as pl
import pytest
from tests.ingest.test_live_admit import _batch_frames, _with

from perpscope.ingest import sink as sink_mod
from perpscope.ingest.sink import LiveConfig, Sink
from perpscope.records import LIQUIDATIONS, TRADES
from perpscope.store import Lake
from perpscope.store.live_log import live_rows

NOW_MS = time.time_ns() // 1_000_000


def _commit(root: Path, frames: dict[str, pl.DataFrame]) -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
    """Each frame added to a fresh sink (trades in batches of 700, as drains hand them on), one flush."""
    sink = Sink(Lake(root), LiveConfig(max_batch=10**9))
    for name, df in frames.items():
        rt = TRADES if name == "trades" else LIQUIDATIONS
        for i in range(0, df.height, 700):
            sink.add_frame(rt, df.slice(i, 700))
    asyncio.run(sink.flush())
    stored = {rt.name: live_rows(sink.lake, rt) for rt in (TRADES, LIQUIDATIONS)}
    return {k: v for k, v in stored.items() if v is not None}, {k[1]: n for k, n in sink.rejected.items()}


@pytest.mark.parametrize("rows", [20, 1500, 3000])
def test_a_flush_commits_the_same_rows_on_the_loop_and_in_the_thread(
    rows: int, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = _batch_frames(shared_data)
    trades = frames["trades"].head(rows).with_columns(pl.lit(NOW_MS - 60_000).alias("ts_ms"))
    trades = _with(_with(trades, 17, "price", float("nan")), rows // 2 + 1, "qty_base", -1.0)
    liqs = frames["liquidations"].head(40).with_columns(pl.lit(NOW_MS - 60_000).alias("ts_ms"))
    liqs = _with(liqs, 3, "price", 0.0)
    batch = {"trades": trades, "liquidations": liqs}
    monkeypatch.setattr(sink_mod, "INLINE_ROWS", 10**9)
    loop_rows, loop_refused = _commit(tmp_path / "loop", batch)
    monkeypatch.setattr(sink_mod, "INLINE_ROWS", 0)
    thread_rows, thread_refused = _commit(tmp_path / "thread", batch)
    assert loop_refused == thread_refused == {"trades": 2, "liquidations": 1}
    assert set(loop_rows) == set(thread_rows) == {"trades", "liquidations"}
    for name, df in loop_rows.items():
        assert df.equals(thread_rows[name])
    assert loop_rows["trades"].height == rows - 2
    assert loop_rows["liquidations"].height == 39
