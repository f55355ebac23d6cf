"""The boundary checks (records/validate.py) on real rows: a real file passes whole; each way a row
can be wrong is refused with its row and a reason naming the value; rows that do not even conform
(NaN in a required price, an instant beyond int64) cost only themselves."""

from __future__ import annotations

import math
from dataclasses import replace

import polars as pl
import pytest
from tests.conftest import FIXTURES

from perpscope.records import CANDLES, FUNDING, LIQUIDATIONS, TRADES, Candle
from perpscope.records.validate import EARLIEST_MS, admit_frame, check, frame_from_rows
from perpscope.venues.archive import parse_file

NOW = 1_780_000_000_000  # 2026-05-28: after every fixture
KLINES = FIXTURES / "archive/data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2025-10-10.zip"
TRADES_ZIP = FIXTURES / "archive/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip"


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    (p,) = parse_file(KLINES)
    return p.frame


def test_every_row_of_a_real_file_passes(bars: pl.DataFrame) -> None:
    v = check(CANDLES, bars, now_ms=NOW)
    assert v.rejected == 0 and v.good.equals(bars)
    (trades,) = parse_file(TRADES_ZIP)
    assert check(TRADES, trades.frame, now_ms=NOW).rejected == 0


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"low": -1.0}, "low -1.0 is not a positive price"),
        ({"volume_base": -5.0}, "volume_base -5.0 is negative"),
        ({"open": 0.0}, "open 0.0 is not a positive price"),
        ({"volume_base": math.nan}, "volume_base nan is not finite"),
        ({"close": 1e308}, "close 1e+308 is not a price"),  # and above the high: an impossible bar
        ({"high": 1.0}, "is below low"),
        ({"trades": -3}, "trades -3 is negative"),
    ],
)
def test_each_bad_value_is_refused_with_its_row_and_reason(
    bars: pl.DataFrame, change: dict[str, float], words: str
) -> None:
    row = 7
    bad = bars.with_columns(
        [
            pl.when(pl.int_range(pl.len()) == row)
            .then(pl.lit(v))
            .otherwise(pl.col(c))
            .cast(bars.schema[c])
            .alias(c)
            for c, v in change.items()
        ]
    )
    v = check(CANDLES, bad, now_ms=NOW)
    assert v.rejected == 1 and v.bad_rows.to_list() == [row]
    assert v.detail[0].row == row and words in v.detail[0].reason
    assert v.detail[0].at == "2025-10-10 00:35:00 UTC"
    assert v.good.height == bars.height - 1
    assert f"row {row + 1}" in v.summary(lambda r: r + 1)


def test_a_consistent_bar_at_an_absurd_price_is_refused(bars: pl.DataFrame) -> None:
    absurd = bars.head(1).with_columns(
        open=pl.lit(1e300), high=pl.lit(1e308), low=pl.lit(1e300), close=pl.lit(1e308)
    )
    v = check(CANDLES, absurd, now_ms=NOW)
    assert v.rejected == 1 and "high 1e+308 is not a price" in v.detail[0].reason


def test_premium_index_bars_may_be_negative_but_not_inconsistent(bars: pl.DataFrame) -> None:
    prem = bars.head(3).with_columns(
        pl.lit("premium").alias("price_type"),
        open=pl.lit(-0.0002),
        high=pl.lit(0.0001),
        low=pl.lit(-0.0003),
        close=pl.lit(-0.0001),
    )
    assert check(CANDLES, prem, now_ms=NOW).rejected == 0
    assert check(CANDLES, prem.with_columns(high=pl.lit(-0.001)), now_ms=NOW).rejected == 3


def test_instants_outside_2009_to_a_day_after_now_are_refused(bars: pl.DataFrame) -> None:
    ts = bars.get_column("ts_ms").dt.epoch("ms")
    early = bars.head(1).with_columns(pl.lit(EARLIEST_MS - 1).cast(pl.Datetime("ms", "UTC")).alias("ts_ms"))
    late = bars.head(1).with_columns(
        pl.lit(NOW + 2 * 86_400_000).cast(pl.Datetime("ms", "UTC")).alias("ts_ms")
    )
    soon = bars.head(1).with_columns(pl.lit(NOW + 3_600_000).cast(pl.Datetime("ms", "UTC")).alias("ts_ms"))
    assert "outside 2009-01-01" in check(CANDLES, early, now_ms=NOW).detail[0].reason
    assert check(CANDLES, late, now_ms=NOW).rejected == 1
    assert check(CANDLES, soon, now_ms=NOW).rejected == 0  # a venue clock an hour ahead is fine
    assert int(ts.min()) > EARLIEST_MS


def test_funding_rates_beyond_100_percent_and_liquidations_at_no_price_are_refused() -> None:
    f = FUNDING.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "BTCUSDT",
                "canonical": "BTC-USDT-PERP",
                "ts_ms": [1_700_000_000_000, 1_700_028_800_000],
                "rate": [-0.0001, 3.0],
                "interval_ms": 28_800_000,
            }
        )
    )
    v = check(FUNDING, f, now_ms=NOW)
    assert v.bad_rows.to_list() == [1] and "rate 3.0 exceeds ±1" in v.detail[0].reason
    liq = LIQUIDATIONS.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "BTCUSDT",
                "canonical": "BTC-USDT-PERP",
                "ts_ms": [1_700_000_000_000],
                "side": "long",
                "price": [0.0],
                "qty_base": [1.0],
                "notional_usd": [0.0],
            }
        )
    )
    assert "price 0.0 is not a positive price" in check(LIQUIDATIONS, liq, now_ms=NOW).detail[0].reason


def test_rows_that_do_not_conform_cost_only_themselves(bars: pl.DataFrame) -> None:
    rows = CANDLES.to_records(bars.head(6))
    bad = [
        replace(rows[1], close=math.nan),  # NaN in a required price: conform itself refuses it
        replace(rows[2], ts_ms=10**20),  # beyond int64 ms: polars cannot even hold it
        replace(rows[3], low=-5.0),
        replace(rows[4], ts_ms=-86_400_000),  # 1969
    ]
    good, refused = frame_from_rows(CANDLES, [rows[0], *bad, rows[5]], now_ms=NOW)
    assert good.get_column("ts_ms").dt.epoch("ms").to_list() == [rows[0].ts_ms, rows[5].ts_ms]
    assert len(refused) == 4
    reasons = " | ".join(r for _, r in refused)
    assert "'close' is not a finite number" in reasons and "cannot be stored" in reasons
    assert "low -5.0" in reasons and "outside 2009-01-01" in reasons
    assert all(isinstance(r, Candle) for r, _ in refused)


def test_admit_frame_drops_many_unconformable_rows_without_losing_the_good_ones(bars: pl.DataFrame) -> None:
    raw = bars.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(float("nan")).otherwise(pl.col("open")).alias("open")
    )
    good, refused = admit_frame(CANDLES, raw, now_ms=NOW)
    assert len(refused) == len(range(0, bars.height, 3)) and good.height == bars.height - len(refused)
    assert sorted(r.row for r in refused) == list(range(0, bars.height, 3))
