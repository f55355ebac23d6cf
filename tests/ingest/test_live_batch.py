"""The live hot path: Binance frames decoded in batches give exactly what the reference parser gives, and
the vectorized trade-id check exactly what the row-by-row one does.

Frames: recorded ``!forceOrder@arr`` events (``../shared/data``) and aggregated trades of the archive
fixture turned back into ``aggTrade`` messages, interleaved with frames the typed path must leave to the
reference (other events, subscription answers, malformed JSON, wrong types, unknown sides, ids beyond
int64).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))

from binance_data import force_order_messages, ws_examples

from perpscope.ingest.gap_filler import GapFiller
from perpscope.records import FUNDING, LIQUIDATIONS, TRADES
from perpscope.records.validate import admit_frame, frame_from_rows
from perpscope.venues.binance.stream_batch import BinanceBatchParser
from perpscope.venues.binance.wire import StreamParser

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "fixtures/archive/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip"
)


def agg_trade_frames() -> list[str]:
    """The archive fixture's aggregated trades as ``btcusdt@aggTrade`` websocket messages."""
    with zipfile.ZipFile(FIXTURE) as zf:
        df = pl.read_csv(io.BytesIO(zf.read(zf.namelist()[0])))
    return [
        json.dumps(
            {
                "stream": "btcusdt@aggTrade",
                "data": {
                    "e": "aggTrade",
                    "E": r["transact_time"] + 5,
                    "s": "BTCUSDT",
                    "a": r["agg_trade_id"],
                    "p": str(r["price"]),
                    "q": str(r["quantity"]),
                    "f": r["first_trade_id"],
                    "l": r["last_trade_id"],
                    "T": r["transact_time"],
                    "m": r["is_buyer_maker"],
                },
            }
        )
        for r in df.iter_rows(named=True)
    ]


def odd_frames() -> list[str]:
    """Frames the typed path must not take (each parsed or counted by the reference)."""
    ex = ws_examples()
    liq = ex["forceOrder"]
    huge = {**liq, "o": {**liq["o"], "T": 2**70}}
    odd_side = {**liq, "o": {**liq["o"], "S": "HOLD"}}
    no_ap = {**liq, "o": {k: v for k, v in liq["o"].items() if k != "ap"}}
    trade = json.loads(agg_trade_frames()[0])
    return [
        json.dumps({"stream": "!forceOrder@arr", "data": huge}),
        json.dumps({"stream": "!forceOrder@arr", "data": odd_side}),
        json.dumps({"stream": "!forceOrder@arr", "data": no_ap}),  # the reference takes it
        json.dumps({**trade, "data": {**trade["data"], "a": 2**70}}),
        json.dumps({**trade, "data": {**trade["data"], "s": "NOT A SYMBOL"}}),
        json.dumps({**trade, "data": {**trade["data"], "p": "abc"}}),
        json.dumps({"stream": "btcusdt@markPrice", "data": ex["markPriceUpdate"]}),
        json.dumps({"result": None, "id": 1}),
        '{"stream": "x", "data": {"e": "aggTrade"',  # cut short
        "[1, 2, 3]",
    ]


#: "now" for the boundary checks (after every recorded instant)
NOW_MS = 1_800_000_000_000
RECORDS = {"trades": TRADES, "liquidations": LIQUIDATIONS, "funding": FUNDING}


def _admitted(stream: str, parts: list[Any]) -> tuple[pl.DataFrame, int]:
    """What the sink would write of ``parts`` (records, or frames from the typed path) in key order, and
    how many rows it would refuse."""
    rt = RECORDS[stream]
    records = [x for x in parts if not isinstance(x, pl.DataFrame)]
    frames = [x for x in parts if isinstance(x, pl.DataFrame)]
    good, refused = frame_from_rows(rt, records, now_ms=NOW_MS)
    out, n = [good], len(refused)
    if frames:
        df, bad = admit_frame(rt, pl.concat(frames), now_ms=NOW_MS)
        out.append(df)
        n += len(bad)
    return pl.concat(out).sort(list(rt.key)), n


def reference(frames: list[str]) -> tuple[dict[str, tuple[pl.DataFrame, int]], tuple[int, int, int]]:
    p = StreamParser()
    rows: dict[str, list[Any]] = {}
    for f in frames:
        for stream, _, row in p.parse(f):
            rows.setdefault(stream, []).append(row)
    return {s: _admitted(s, r) for s, r in rows.items()}, (p.malformed, p.unknown, p.control)


def batched(
    frames: list[str], drain_every: int
) -> tuple[dict[str, tuple[pl.DataFrame, int]], tuple[int, int, int]]:
    p = StreamParser()
    b = BinanceBatchParser(p)
    items = []
    for i, f in enumerate(frames, start=1):
        b.add(f.encode())
        if i % drain_every == 0:
            items.extend(b.take())
    items.extend(b.take())
    parts: dict[str, list[Any]] = {}
    for stream, _, x in items:
        parts.setdefault(stream, []).append(x)
    return {s: _admitted(s, xs) for s, xs in parts.items()}, (p.malformed, p.unknown, p.control)


@pytest.mark.parametrize("drain_every", [1, 63, 1000])
def test_batches_of_recorded_frames_equal_the_reference_parse(shared_data: Path, drain_every: int) -> None:
    liqs = [json.dumps({"stream": "!forceOrder@arr", "data": m}) for m in force_order_messages(shared_data)]
    trades = agg_trade_frames()
    odd = odd_frames()
    # interleaved as on one combined socket, with the odd frames spread through
    frames: list[str] = []
    for i, f in enumerate(liqs):
        frames.append(f)
        if i < len(trades):
            frames.append(trades[i])
        if i % 97 == 0:
            frames.append(odd[(i // 97) % len(odd)])
    frames.extend(odd)
    want, want_counts = reference(frames)
    got, got_counts = batched(frames, drain_every)
    assert got_counts == want_counts
    assert want_counts[0] > 0 and want_counts[1] + want_counts[2] > 0  # the odd frames were met
    assert set(got) == set(want) == {"trades", "liquidations", "funding"}
    for stream in want:
        (g, g_refused), (w, w_refused) = got[stream], want[stream]
        assert g_refused == w_refused
        assert g.height == w.height > 0
        assert g.equals(w), stream
    assert want["trades"][1] >= 1 and want["liquidations"][1] >= 1  # ids beyond int64: refused alone


def test_the_typed_path_keeps_arrival_order_around_a_reference_row() -> None:
    trades = agg_trade_frames()
    ex = ws_examples()
    liq = ex["forceOrder"]
    no_ap = json.dumps(
        {"stream": "!forceOrder@arr", "data": {**liq, "o": {k: v for k, v in liq["o"].items() if k != "ap"}}}
    )
    b = BinanceBatchParser(StreamParser())
    for f in [*trades[:3], no_ap, *trades[3:5]]:
        b.add(f)
    # rows in arrival order: the three typed trades (one frame), the reference's liquidation, two more
    kinds = [(s, x.height if isinstance(x, pl.DataFrame) else "row") for s, _, x in b.take()]
    assert kinds == [("trades", 3), ("liquidations", "row"), ("trades", 2)]


def _row_by_row(start: int | None, ids: list[int]) -> tuple[list[tuple[int, int]], int, int]:
    g = _filler()
    if start is not None:
        g._last_trade[("v", "X")] = start
    s = SimpleNamespace(duplicates=0)
    for t in ids:
        g.check_trade(SimpleNamespace(venue="v"), s, SimpleNamespace(symbol="X", trade_id=t))  # type: ignore[arg-type]
    return g.queued, s.duplicates, g._last_trade[("v", "X")]


def _filler() -> Any:
    g: Any = GapFiller.__new__(GapFiller)  # the id bookkeeping only: no sink, no tasks
    g._last_trade = {}
    g.queued = []
    g._queue_trade_gap = lambda feed, st, sym, a, b: g.queued.append((a, b))
    return g


@settings(max_examples=300, deadline=None)
@given(
    start=st.one_of(st.none(), st.integers(0, 40)),
    ids=st.lists(st.integers(0, 40), min_size=1, max_size=30),
)
def test_the_vectorized_trade_id_check_equals_the_row_by_row_one(start: int | None, ids: list[int]) -> None:
    g = _filler()
    if start is not None:
        g._last_trade[("v", "X")] = start
    s = SimpleNamespace(duplicates=0)
    g.check_trade_ids(SimpleNamespace(venue="v"), s, "X", np.asarray(ids, dtype=np.int64))
    assert (g.queued, s.duplicates, g._last_trade[("v", "X")]) == _row_by_row(start, ids)
