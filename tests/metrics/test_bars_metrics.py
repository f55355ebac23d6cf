"""Bars: record frames onto a bar grid with point-in-time rules, resampling, and what must be refused."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.core.time import HOUR_MS, MINUTE_MS
from perpscope.metrics.bars import (
    asof_bars,
    bar_grid,
    bar_open,
    funding_bars,
    known_bar_open,
    liquidation_bars,
    resample_candles,
    resample_taker_volume,
    taker_from_candles,
)
from perpscope.metrics.frames import FrameError
from perpscope.records import CANDLES, FUNDING, LIQUIDATION_TOTALS, LIQUIDATIONS, OPEN_INTEREST, TAKER_VOLUME

T0 = 1_760_054_400_000  # 2025-10-10 00:00 UTC
M5 = 5 * MINUTE_MS
TS = pl.Datetime("ms", "UTC")


def candles_1m(n: int, canonical: str = "BTC-USDT-PERP", market: str = "perp") -> pl.DataFrame:
    return CANDLES.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "BTCUSDT",
                "canonical": canonical,
                "market": market,
                "price_type": "trade",
                "interval_ms": MINUTE_MS,
                "ts_ms": [T0 + i * MINUTE_MS for i in range(n)],
                "open": [100.0 + i for i in range(n)],
                "high": [101.0 + i for i in range(n)],
                "low": [99.0 + i for i in range(n)],
                "close": [100.5 + i for i in range(n)],
                "volume_base": [1.0 + i for i in range(n)],
                "volume_quote": [100.0 * (1 + i) for i in range(n)],
                "trades": [10] * n,
                "taker_buy_base": [0.5 + i for i in range(n)],
                "taker_buy_quote": [60.0 * (1 + i) for i in range(n)],
            }
        )
    )


def test_bar_open_and_known_bar_open_at_a_boundary_and_just_after() -> None:
    df = pl.DataFrame({"t": pl.Series([T0 + 8 * HOUR_MS, T0 + 8 * HOUR_MS + 5]).cast(TS)})
    out = df.select(
        bar_open("t", M5).dt.epoch("ms").alias("ev"), known_bar_open("t", M5).dt.epoch("ms").alias("known")
    )
    # an event at 08:00:00.000 happens in the 08:00 bar; a value known then belongs to the 07:55 bar
    assert out["ev"].to_list() == [T0 + 8 * HOUR_MS, T0 + 8 * HOUR_MS]
    assert out["known"].to_list() == [T0 + 8 * HOUR_MS - M5, T0 + 8 * HOUR_MS]
    eight = df.select(known_bar_open("t", 8 * HOUR_MS).dt.epoch("ms")).to_series().to_list()
    assert eight == [T0, T0 + 8 * HOUR_MS]  # the settlement at 08:00 pays for 00:00–08:00


def test_resampling_1m_candles_to_5m_by_hand() -> None:
    out = resample_candles(candles_1m(12), M5)
    first = out.row(0, named=True)
    assert first["ts_ms"].timestamp() * 1000 == T0 and first["interval_ms"] == M5
    assert (first["open"], first["high"], first["low"], first["close"]) == (100.0, 105.0, 99.0, 104.5)
    assert first["volume_base"] == 1 + 2 + 3 + 4 + 5 and first["trades"] == 50 and first["complete"]
    assert out["complete"].to_list() == [True, True, False]  # the third bar has 2 of its 5 minutes


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200), st.sampled_from([2, 5, 15, 60]))
def test_resampling_conserves_volume(n: int, k: int) -> None:
    c = candles_1m(n)
    out = resample_candles(c, k * MINUTE_MS)
    assert out["volume_base"].sum() == pytest.approx(c["volume_base"].sum())
    assert out["taker_buy_quote"].sum() == pytest.approx(c["taker_buy_quote"].sum())
    assert out.height == len({(T0 + i * MINUTE_MS) // (k * MINUTE_MS) for i in range(n)})


def test_a_target_bar_that_source_bars_do_not_fit_is_refused() -> None:
    with pytest.raises(FrameError, match="do not fit whole"):
        resample_candles(candles_1m(10), 90_000)
    four_h = candles_1m(3).with_columns(pl.lit(4 * HOUR_MS).alias("interval_ms"))
    with pytest.raises(FrameError, match="multiple of the source interval"):
        resample_candles(four_h, HOUR_MS)


def test_taker_volume_from_candles_and_resampled() -> None:
    t = taker_from_candles(candles_1m(5))
    assert TAKER_VOLUME.conform(t).height == 5
    assert t["sell_usd"].to_list() == [40.0, 80.0, 120.0, 160.0, 200.0]  # volume − taker buy
    r = resample_taker_volume(t, M5).row(0, named=True)
    assert (r["buy_usd"], r["sell_usd"], r["complete"]) == (900.0, 600.0, True)


def test_a_snapshot_is_only_used_by_bars_ending_at_or_after_it() -> None:
    grid = bar_grid(
        M5,
        pl.DataFrame(
            {
                "venue": ["binance"] * 2,
                "canonical": "X-USDT-PERP",
                "ts_ms": pl.Series([T0 - 3 * M5, T0 + 2 * M5]).cast(TS),
            }
        ),
    )
    snaps = OPEN_INTEREST.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "X",
                "canonical": "X-USDT-PERP",
                "interval_ms": 0,
                # known exactly at the end of the bar opening at T0 − M5, and 1 ms after the end of the T0 bar
                "ts_ms": [T0, T0 + M5 + 1],
                "oi_usd": [1.0, 2.0],
            }
        )
    )
    out = asof_bars(grid, snaps, ["oi_usd"], stamp_col="oi_ts_ms")
    opens = [(t.timestamp() * 1000 - T0) / M5 for t in out["ts_ms"]]
    assert opens == [-3, -2, -1, 0, 1, 2]
    assert out["oi_usd"].to_list() == [None, None, 1.0, 1.0, 2.0, 2.0]
    limited = asof_bars(grid, snaps, ["oi_usd"], max_age_ms=M5)
    assert limited["oi_usd"].to_list() == [None, None, 1.0, 1.0, 2.0, None]


def test_funding_settlements_land_in_the_bar_they_pay_for() -> None:
    f = FUNDING.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "X",
                "canonical": "X-USDT-PERP",
                "ts_ms": [T0 + 8 * HOUR_MS, T0 + 16 * HOUR_MS, T0 + 16 * HOUR_MS],
                "rate": [0.0001, 0.0002, 0.0009],
                "interval_ms": 8 * HOUR_MS,
                "kind": ["settled", "settled", "sampled"],
            }
        )
    )
    five = funding_bars(f, M5)
    assert [(t.timestamp() * 1000 - T0) / HOUR_MS for t in five["ts_ms"]] == [8 - 5 / 60, 16 - 5 / 60]
    assert five["funding_paid"].to_list() == [0.0001, 0.0002]  # the sampled rate is not a payment
    day = funding_bars(f, 24 * HOUR_MS)
    assert day["funding_paid"].to_list() == [pytest.approx(0.0003)] and day[
        "funding_settlements"
    ].to_list() == [2]


def test_liquidation_events_and_totals_are_never_added_together() -> None:
    ev = LIQUIDATIONS.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "X",
                "canonical": "X-USDT-PERP",
                "ts_ms": [T0 + 1000, T0 + 2000, T0 + M5 + 1],
                "side": ["long", "short", "long"],
                "price": 1.0,
                "qty_base": 1.0,
                "notional_usd": [100.0, 50.0, 7.0],
            }
        )
    )
    tot = LIQUIDATION_TOTALS.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "X",
                "canonical": "X-USDT-PERP",
                "interval_ms": M5,
                "ts_ms": [T0],
                "long_usd": [400.0],
                "short_usd": [90.0],
            }
        )
    )
    both = liquidation_bars(M5, ev, tot)
    assert both["liq_long_usd"].to_list() == [400.0, 7.0]  # totals where they exist, events elsewhere
    assert both["liq_count"].to_list() == [None, 1]
    only_ev = liquidation_bars(M5, ev)
    assert only_ev["liq_long_usd"].to_list() == [100.0, 7.0] and only_ev["liq_max_usd"].to_list() == [
        100.0,
        7.0,
    ]
    assert liquidation_bars(M5).is_empty()


def test_totals_already_one_per_bar_read_as_the_finer_totals_they_sum() -> None:
    """The shortcut for totals already on the bar grid (the market view's) gives the bars the sum of
    finer totals gives: 1-minute totals summed to 5 minutes, against the same sums stored at 5m."""
    rng = np.random.default_rng(7)
    n = 60  # one hour of minutes
    one_min = pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "X",
            "canonical": "X-USDT-PERP",
            "interval_ms": 60_000,
            "ts_ms": [T0 + i * 60_000 for i in range(n)],
            "long_usd": rng.gamma(0.5, 1e4, n),
            "short_usd": rng.gamma(0.5, 1e4, n),
        }
    )
    summed = liquidation_bars(M5, totals=LIQUIDATION_TOTALS.conform(one_min))
    five_min = LIQUIDATION_TOTALS.conform(
        summed.select(
            "venue",
            pl.lit("X").alias("symbol"),
            "canonical",
            "interval_ms",
            "ts_ms",
            pl.col("liq_long_usd").alias("long_usd"),
            pl.col("liq_short_usd").alias("short_usd"),
        )
    )
    direct = liquidation_bars(M5, totals=five_min)
    assert direct.height == n // 5
    assert direct.select(summed.columns).equals(summed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bar_grid_of_integer_ids_equals_the_polars_form(seed: int) -> None:
    """Int64 series ids (the panel's) take the numpy form; the same rows keyed by Int32 take polars':
    the same bars, series by series, with and without clipping, over several frames."""
    import numpy as np

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(3):
        n = 40
        sid = rng.integers(0, 6, n)
        ts = T0 + rng.integers(-50 * M5, 400 * M5, n)  # not on bar edges, some before the epoch offset
        frames.append(pl.DataFrame({"sid": sid, "ts_ms": ts}).with_columns(pl.col("ts_ms").cast(TS)))
    for start, end in ((None, None), (T0 + 7, T0 + 100 * M5 + 1), (T0 + 500 * M5, None)):
        got = bar_grid(M5, *frames, start_ms=start, end_ms=end, by=["sid"])
        narrow = [f.with_columns(pl.col("sid").cast(pl.Int32)) for f in frames]
        want = bar_grid(M5, *narrow, start_ms=start, end_ms=end, by=["sid"])
        assert got.schema == {"sid": pl.Int64, "ts_ms": TS, "interval_ms": pl.Int64}
        assert got.equals(want.with_columns(pl.col("sid").cast(pl.Int64)))
        assert got.get_column("sid").flags["SORTED_ASC"]
        if start is None:
            assert got.height > 0


@pytest.mark.parametrize(
    "values",
    [[300_000] * 4, [300_000, 60_000], [None, None], [None, 300_000], [300_000, None, 300_000], [0]],
)
def test_one_interval_is_read_as_n_unique_reads_it(values: list[int | None]) -> None:
    """finest keeps a frame whole when its intervals hold one value (a null counts as one)."""
    from perpscope.metrics.bars import _one_value

    s = pl.Series("interval_ms", values, dtype=pl.Int64)
    assert _one_value(s) == (s.n_unique() == 1)
    assert _one_value(s.cast(pl.Float64)) == (s.n_unique() == 1)


@pytest.mark.parametrize("values", [[300_000] * 3, [300_000, 60_000], [None, 300_000], [None], [60_000], []])
def test_candles_on_the_grid_are_told_as_unique_tells_them(values: list[int | None]) -> None:
    """resample_candles keeps candles whole when every interval is the bar length (none null)."""
    from perpscope.metrics.bars import _all_equal_to

    s = pl.Series("interval_ms", values, dtype=pl.Int64)
    u = s.unique()
    want = u.len() == 1 and u[0] == 300_000
    assert _all_equal_to(s, 300_000) == want
    assert _all_equal_to(s.cast(pl.Float64), 300_000) == want
