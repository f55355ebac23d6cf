"""The live flush's cached admission (:func:`admit_planned`) gives exactly what :func:`admit_frame` gives,
and its key check (:func:`one_per_key`) one row per key (instants as integer ms or as datetimes):
the same rows, the same refusals with the same reasons — on the batch parser's frames of recorded trades
and liquidations, with bad values put in (NaN, infinite and negative prices, instants before 2009 or
after tomorrow, names that cannot be a folder, nulls, repeated and unordered trade ids)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))

from binance_data import force_order_messages
from tests.ingest.test_live_batch import NOW_MS, agg_trade_frames

from perpscope.ingest.sink import _stamped
from perpscope.records import LIQUIDATIONS, TRADES, RecordType
from perpscope.records.validate import admit_frame, admit_planned
from perpscope.store.lake import one_per_key
from perpscope.venues.binance.stream_batch import BinanceBatchParser
from perpscope.venues.binance.wire import StreamParser

#: the frames per input: without the shared data (trades only) and with it (trades and liquidations); one
#: cache for both made the liquidations test fail when a trades-only call filled it first (test order)
_FRAMES: dict[bool, dict[str, pl.DataFrame]] = {}


def _batch_frames(shared: Path | None) -> dict[str, pl.DataFrame]:
    """The batch parser's frames (as the socket loop hands them to the sink) of the archive fixture's
    trades (cycled) and, with the shared data, the recorded liquidations."""
    key = shared is not None
    if key not in _FRAMES:
        # the fixture's 31 recorded trades, cycled under new ids (a batch of a busy second)
        recorded = [json.loads(f) for f in agg_trade_frames()]
        frames = []
        for i in range(3000):
            m = recorded[i % len(recorded)]
            frames.append(json.dumps({**m, "data": {**m["data"], "a": 2_530_000_000 + i}}))
        if shared is not None:
            frames += [
                json.dumps({"stream": "!forceOrder@arr", "data": m}) for m in force_order_messages(shared)
            ]
        b = BinanceBatchParser(StreamParser())
        for f in frames:
            b.add(f.encode())
        got: dict[str, list[pl.DataFrame]] = {}
        for stream, _, x in b.take():
            if isinstance(x, pl.DataFrame):  # rows the reference parser took are not the hot path
                got.setdefault(stream, []).append(x)
        _FRAMES[key] = {s: pl.concat(fs) for s, fs in got.items()}
    return _FRAMES[key]


#: (column, bad value) put into a row
FAULTS: dict[str, list[tuple[str, Any]]] = {
    "trades": [
        ("price", float("nan")),
        ("price", float("inf")),
        ("price", -1.0),
        ("qty_base", -0.5),
        ("qty_base", None),
        ("ts_ms", 1_000),
        ("ts_ms", NOW_MS + 3 * 86_400_000),
        ("symbol", None),
        ("canonical", "BTC/USDT"),
        ("venue", "bin ance"),
        ("taker_side", "hold"),
        ("trade_id", None),
    ],
    "liquidations": [
        ("price", float("nan")),
        ("price", 0.0),
        ("notional_usd", float("-inf")),
        ("ts_ms", 0),
        ("side", "flat"),
        ("canonical", None),
    ],
}
RECORD: dict[str, RecordType] = {"trades": TRADES, "liquidations": LIQUIDATIONS}


def _with(df: pl.DataFrame, row: int, col: str, value: Any) -> pl.DataFrame:
    s = df.get_column(col)
    return df.with_columns(s.scatter(row, pl.Series([value], dtype=s.dtype)))


def _same(rt: RecordType, raw: pl.DataFrame) -> None:
    want, want_refused = admit_frame(rt, raw, now_ms=NOW_MS)
    got, got_refused = admit_planned(rt, raw, now_ms=NOW_MS)
    assert got.schema == want.schema
    assert got.equals(want)
    assert got_refused == want_refused
    stamped = _stamped(rt, got)
    once = one_per_key(rt, stamped)
    assert once.height == stamped.unique(list(rt.key)).height  # one row per key, none lost
    assert once.unique(list(rt.key)).height == once.height


@pytest.mark.parametrize("stream", ["trades", "liquidations"])
def test_clean_batches_are_admitted_as_admit_frame_admits_them(stream: str, shared_data: Path) -> None:
    df = _batch_frames(shared_data)[stream]
    assert df.height > 1000
    rt = RECORD[stream]
    _same(rt, df)
    _same(rt, df.head(1))
    _same(rt, df.clear())
    conformed = rt.conform(df)  # rows the sink's row path hands on (instants as datetimes)
    _same(rt, conformed)
    _same(rt, _with(conformed, 5, "price", float("nan")))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_batches_with_bad_rows_are_admitted_and_refused_as_admit_frame_does(data: st.DataObject) -> None:
    frames = _batch_frames(None)
    df = frames["trades"].head(data.draw(st.integers(2, 200)))
    for _ in range(data.draw(st.integers(0, 4))):
        col, value = data.draw(st.sampled_from(FAULTS["trades"]))
        df = _with(df, data.draw(st.integers(0, df.height - 1)), col, value)
    if data.draw(st.booleans()):  # ids repeated or out of order: the key check's slow path
        df = df.sample(fraction=1.0, with_replacement=True, seed=data.draw(st.integers(0, 99)))
    _same(TRADES, df)
    _same(TRADES, df.with_columns(pl.from_epoch("ts_ms", time_unit="ms").dt.replace_time_zone("UTC")))


def test_liquidations_with_bad_rows_are_refused_as_admit_frame_does(shared_data: Path) -> None:
    df = _batch_frames(shared_data)["liquidations"].head(300)
    for i, (col, value) in enumerate(FAULTS["liquidations"]):
        _same(LIQUIDATIONS, _with(df, 7 * i + 3, col, value))
