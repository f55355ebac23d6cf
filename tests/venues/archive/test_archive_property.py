"""Property: any klines frame written as an archive CSV (with or without header, ms or µs) parses back
exactly — every instant, price, volume and count — and so does any aggTrades frame."""

from __future__ import annotations

import tempfile
from pathlib import Path

from archive_helpers import KLINE_HEADER, epoch_ms, write_zip
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.core.time import interval_ms
from perpscope.records import CANDLES, TRADES
from perpscope.venues.archive import parse_file

price = st.floats(min_value=1e-8, max_value=1e9, allow_nan=False, allow_infinity=False)
amount = st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False)
# the importer admits instants up to a day after now (records/validate.py): stay before 2026
T_2017, T_2030 = 1_483_228_800_000, 1_767_225_600_000


@st.composite
def kline_files(draw: st.DrawFn) -> tuple[str, list[tuple]]:
    interval = draw(st.sampled_from(["1m", "5m", "1h", "4h", "1d"]))
    step = interval_ms(interval)
    n = draw(st.integers(min_value=1, max_value=40))
    start = draw(st.integers(min_value=T_2017 // step, max_value=T_2030 // step)) * step
    rows = []
    for i in range(n):
        # a consistent bar (high ≥ open, close ≥ low): the boundary checks refuse any other
        lo, a, b, hi = sorted(draw(st.tuples(price, price, price, price)))
        o, c = (a, b) if draw(st.booleans()) else (b, a)
        ohlcv = (o, hi, lo, c, draw(amount), draw(amount))
        tail = (draw(st.integers(0, 10**9)), draw(amount), draw(amount))
        rows.append((start + i * step, *ohlcv, *tail))
    return interval, rows


def kline_csv(rows: list[tuple], step: int, *, header: bool, micro: bool) -> str:
    lines = [KLINE_HEADER] if header else []
    for t, o, h, lo, c, v, qv, n, tb, tq in rows:
        ot, ct = (t * 1000, (t + step) * 1000 - 1) if micro else (t, t + step - 1)
        lines.append(f"{ot},{o!r},{h!r},{lo!r},{c!r},{v!r},{ct},{qv!r},{n},{tb!r},{tq!r},0")
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(kline_files(), st.booleans(), st.sampled_from(["um", "spot-ms", "spot-us"]))
def test_klines_roundtrip(case: tuple[str, list[tuple]], header: bool, layout: str) -> None:
    interval, rows = case
    step = interval_ms(interval)
    seg = "futures/um" if layout == "um" else "spot"
    text = kline_csv(rows, step, header=header, micro=layout == "spot-us")
    with tempfile.TemporaryDirectory() as tmp:
        p = write_zip(
            Path(tmp) / f"data/{seg}/daily/klines/BTCUSDT/{interval}/BTCUSDT-{interval}-2024-01-01.zip", text
        )
        (parsed,) = parse_file(p)
    assert parsed.record is CANDLES
    f = parsed.frame
    cols = list(zip(*rows, strict=True))
    assert epoch_ms(f) == list(cols[0])
    for i, name in enumerate(["open", "high", "low", "close", "volume_base", "volume_quote"], start=1):
        assert f[name].to_list() == list(cols[i]), name
    assert f["trades"].to_list() == list(cols[7])
    assert f["taker_buy_base"].to_list() == list(cols[8])
    assert f["taker_buy_quote"].to_list() == list(cols[9])
    assert set(f["interval_ms"]) == {step}
    assert set(f["market"]) == {"perp" if layout == "um" else "spot"}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(price, st.floats(1e-8, 1e6), st.integers(0, 5_000), st.booleans()), min_size=1, max_size=40
    ),
    st.integers(T_2017, T_2030),
    st.booleans(),
)
def test_agg_trades_roundtrip(trades: list[tuple[float, float, int, bool]], t0: int, header: bool) -> None:
    lines = (
        ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"]
        if header
        else []
    )
    t, expected_ts = t0, []
    for i, (px, qty, dt, maker) in enumerate(trades):
        t += dt
        expected_ts.append(t)
        lines.append(f"{1000 + i},{px!r},{qty!r},{5000 + 2 * i},{5001 + 2 * i},{t},{str(maker).lower()}")
    with tempfile.TemporaryDirectory() as tmp:
        p = write_zip(
            Path(tmp) / "data/futures/um/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-01-01.zip",
            "\n".join(lines),
        )
        (parsed,) = parse_file(p)
    assert parsed.record is TRADES
    f = parsed.frame
    assert epoch_ms(f) == expected_ts
    assert f["price"].to_list() == [x[0] for x in trades]
    assert f["qty_base"].to_list() == [x[1] for x in trades]
    assert f["taker_side"].to_list() == ["sell" if x[3] else "buy" for x in trades]
    assert f["trade_id"].to_list() == list(range(1000, 1000 + len(trades)))
    assert set(f["canonical"]) == {"ETH-USDT-PERP"}
