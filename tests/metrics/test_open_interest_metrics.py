"""Open interest: change over windows, aggregation across venues, OI / volume, and the consistency flag,
by hand, as invariants, and on real Binance and CoinGlass data."""

from __future__ import annotations

import csv
import gzip
import itertools
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.core.time import DAY_MS, HOUR_MS, WEEK_MS
from perpscope.metrics.open_interest import aggregate_oi, oi_change, oi_to_volume, oi_volume_consistency
from perpscope.records import CANDLES, OPEN_INTEREST

T0 = 1_760_054_400_000  # 2025-10-10 00:00 UTC
TS = pl.Datetime("ms", "UTC")


def oi(
    values: list[float | None],
    step_ms: int = 4 * HOUR_MS,
    venue: str = "binance",
    ts: list[int] | None = None,
    base: list[float] | None = None,
) -> pl.DataFrame:
    n = len(values)
    return OPEN_INTEREST.conform(
        pl.DataFrame(
            {
                "venue": venue,
                "symbol": "BTCUSDT",
                "canonical": "BTC-USDT-PERP",
                "interval_ms": step_ms,
                "ts_ms": ts if ts is not None else [T0 + i * step_ms for i in range(n)],
                "oi_usd": values,
                "oi_base": base if base is not None else [None] * n,
            },
            schema_overrides={"oi_usd": pl.Float64, "oi_base": pl.Float64},
        )
    )


def test_a_week_from_100_to_85_1_is_minus_14_9_percent() -> None:
    days = [100.0, 98.0, 97.0, 95.0, 92.0, 90.0, 88.0, 85.1]
    out = oi_change(oi(days, step_ms=DAY_MS), (DAY_MS, WEEK_MS))
    assert out["oi_usd_chg_7d"][-1] == pytest.approx(-0.149)
    assert out["oi_usd_chg_1d"][-1] == pytest.approx(85.1 / 88.0 - 1)
    assert out["oi_usd_chg_7d"][:7].null_count() == 7  # the series does not reach back a week yet


def test_change_uses_the_last_value_known_at_t_minus_w_across_gaps() -> None:
    # snapshots at 0h, 4h, 20h, 28h: at 28h the value known 24h earlier (at 4h) is the 4h one
    f = oi([10.0, 20.0, 40.0, 50.0], ts=[T0, T0 + 4 * HOUR_MS, T0 + 20 * HOUR_MS, T0 + 28 * HOUR_MS])
    out = oi_change(f, (DAY_MS,))
    assert out["oi_usd_chg_1d"].to_list() == [None, None, None, pytest.approx(50 / 20 - 1)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=2, max_size=60), st.integers(1, 12))
def test_the_regular_grid_shortcut_equals_the_as_of_lookup(values: list[float], k: int) -> None:
    regular = oi(values)
    w = k * 4 * HOUR_MS
    fast = oi_change(regular, (w,))
    # one more row far in the future makes the series irregular (the as-of path) and changes no earlier row
    later = regular.tail(1).with_columns(pl.col("ts_ms") + pl.duration(days=400))
    slow = oi_change(pl.concat([regular, later]), (w,)).head(len(values))
    assert fast["oi_usd_chg_" + _lab(k)].to_list() == slow["oi_usd_chg_" + _lab(k)].to_list()


def _lab(k: int) -> str:
    h = 4 * k
    return f"{h // 24}d" if h % 24 == 0 else f"{h}h"


def test_aggregation_sums_venues_and_counts_them() -> None:
    rows = pl.concat([oi([1e9, 2e9], venue="binance"), oi([5e8, None], venue="bybit")])
    out = aggregate_oi(rows, "usd")
    assert out["oi_usd"].to_list() == [1.5e9, 2e9] and out["n_venues"].to_list() == [2, 1]
    # the second instant's Bybit row has no USD value: counted as missing, not silently dropped
    assert out["n_missing"].to_list() == [0, 1]
    by_base = aggregate_oi(rows, "usd", by="base")
    assert by_base["base"].to_list() == ["BTC", "BTC"]


def test_aggregation_sums_the_unit_it_is_asked_for() -> None:
    # a venue that gives coins only (Bybit linear history before it was valued at the mark price)
    rows = pl.concat([oi([1e9], base=[10_000.0], venue="binance"), oi([None], base=[5_000.0], venue="bybit")])
    coins = aggregate_oi(rows, "base")
    assert (coins["oi_base"][0], coins["n_venues"][0], coins["n_missing"][0]) == (15_000.0, 2, 0)
    usd = aggregate_oi(rows, "usd")
    assert (usd["oi_usd"][0], usd["n_venues"][0], usd["n_missing"][0]) == (1e9, 1, 1)
    with pytest.raises(ValueError, match="unit must be"):
        aggregate_oi(rows, "contracts")  # type: ignore[arg-type]


def test_oi_to_volume_over_a_trailing_day() -> None:
    bars = pl.DataFrame(
        {
            "venue": "binance",
            "canonical": "X-USDT-PERP",
            "ts_ms": pl.Series([T0 + i * 6 * HOUR_MS for i in range(6)]).cast(TS),
            "oi_usd": [100.0] * 6,
            "volume_usd": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        }
    )
    out = oi_to_volume(bars, DAY_MS)
    # at the 6th bar the day holds bars 3–6: 30 + 40 + 50 + 60
    assert out["oi_to_volume_1d"].to_list() == pytest.approx(
        [100 / 10, 100 / 30, 100 / 60, 100 / 100, 100 / 140, 100 / 180]
    )
    irregular = pl.concat([bars.head(1).with_columns(pl.col("ts_ms") - pl.duration(days=30)), bars])
    assert oi_to_volume(irregular, DAY_MS)["oi_to_volume_1d"][1:].to_list() == pytest.approx(
        out["oi_to_volume_1d"].to_list()
    )


def _candles(volumes: list[float], step_ms: int = HOUR_MS) -> pl.DataFrame:
    n = len(volumes)
    return CANDLES.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "BTCUSDT",
                "canonical": "BTC-USDT-PERP",
                "market": "perp",
                "price_type": "trade",
                "interval_ms": step_ms,
                "ts_ms": [T0 + i * step_ms for i in range(n)],
                "open": 1.0,
                "high": 1.0,
                "low": 1.0,
                "close": 1.0,
                "volume_base": volumes,
            }
        )
    )


def test_a_change_larger_than_the_volume_traded_in_between_is_flagged() -> None:
    c = _candles([10.0] * 12)  # 40 traded per 4h
    f = oi([None] * 4, base=[1000.0, 1030.0, 1100.0, 1060.0])
    out = oi_volume_consistency(f, c)
    assert out["volume_between_base"].to_list() == [None, 40.0, 40.0, 40.0]
    assert out["oi_inconsistent"].to_list() == [None, False, True, False]  # |−40| is not more than 40
    assert out["oi_volume_excess"][2] == pytest.approx(70 / 40)
    missing = oi_volume_consistency(f, c.filter(pl.int_range(pl.len()) != 5))
    assert missing["oi_inconsistent"].to_list() == [None, False, None, False]  # a missing candle: no verdict
    short = oi_volume_consistency(oi([None] * 2, base=[1.0, 2.0], ts=[T0, T0 + 14 * HOUR_MS]), c)
    assert short["oi_inconsistent"].to_list() == [None, None]  # the candles stop 2h before the snapshot


# -- real data ---------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_coinglass_btc_open_interest_fell_from_90_2_to_70_5_billion_on_10_october(load) -> None:  # type: ignore[no-untyped-def]
    agg = load(
        "coinglass_liquidity_report/open_interest_aggregated_all_exchanges_4h_BTC_ETH_SOL_XRP.csv.gz",
        "open_interest",
    ).filter(pl.col("symbol") == "BTC")
    out = oi_change(agg, (DAY_MS, 12 * HOUR_MS)).filter(
        pl.col("ts_ms") == pl.datetime(2025, 10, 11, time_zone="UTC")
    )
    row = out.row(0, named=True)
    # CSV closes: 90,237,622,503 (bar 2025-10-09 20:00, known 10-10 00:00); 90,237,724,934 (bar 10-10
    # 08:00, known 12:00); 70,505,795,930 (bar 10-10 20:00, known 10-11 00:00). The bar's low was 69.82 B.
    assert row["oi_usd"] == 70_505_795_930.0
    assert row["oi_usd_chg_1d"] == pytest.approx(70_505_795_930 / 90_237_622_503 - 1)  # −21.9%
    assert row["oi_usd_chg_12h"] == pytest.approx(70_505_795_930 / 90_237_724_934 - 1)


@pytest.mark.shared
def test_summing_coinglass_exchanges_gives_coinglass_all_exchange_open_interest(load) -> None:  # type: ignore[no-untyped-def]
    root = "coinglass_liquidity_report/"
    per = load(root + "open_interest_by_exchange_4h_BTC_ETH_SOL_XRP.csv.gz", "open_interest")
    agg = load(root + "open_interest_aggregated_all_exchanges_4h_BTC_ETH_SOL_XRP.csv.gz", "open_interest")
    ours = aggregate_oi(per, "usd")
    j = ours.join(agg.select("canonical", "ts_ms", pl.col("oi_usd").alias("cg")), on=["canonical", "ts_ms"])
    ratio = j.group_by("canonical").agg((pl.col("oi_usd") / pl.col("cg")).median().alias("r"), pl.len())
    assert ratio.height == 4 and ratio["len"].min() > 1000  # type: ignore[operator]
    assert ratio["r"].to_list() == pytest.approx([1.0] * 4, abs=1e-4)


@pytest.mark.shared
def test_binance_open_interest_never_moves_more_than_the_volume_traded(shared_data: Path, load) -> None:  # type: ignore[no-untyped-def]
    g = "binance_um_gravestone/"
    kl = load(g + "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20250913_20260319.csv.gz", "candles")
    six = kl["canonical"].unique().to_list()
    f = load(g + "open_interest_4h_all_usdtm_perps_20260220_20260320.csv.gz", "open_interest")
    f = f.filter(pl.col("canonical").is_in(six))
    out = oi_volume_consistency(f, kl)
    judged = out.filter(pl.col("oi_inconsistent").is_not_null())
    assert judged.height > 6 * 100 and not judged["oi_inconsistent"].any()
    # the same bound from the CSVs alone, for BTC: the largest 4h |ΔOI| is below the smallest 4h volume
    with gzip.open(
        shared_data / (g + "open_interest_4h_all_usdtm_perps_20260220_20260320.csv.gz"), "rt"
    ) as fh:
        rows = sorted(
            (int(r["timestamp"]), float(r["sum_open_interest"]))
            for r in csv.DictReader(fh)
            if r["symbol"] == "BTCUSDT"
        )
    with gzip.open(
        shared_data / (g + "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20250913_20260319.csv.gz"), "rt"
    ) as fh:
        vol = {
            int(r["timestamp"]): float(r["volume"]) for r in csv.DictReader(fh) if r["symbol"] == "BTCUSDT"
        }
    worst = max(
        abs(b - a) / sum(vol[t0 + h * HOUR_MS] for h in range(4))
        for (t0, a), (t1, b) in itertools.pairwise(rows)
        if t1 - t0 == 4 * HOUR_MS and all(t0 + h * HOUR_MS in vol for h in range(4))
    )
    assert worst < 1.0
    btc = judged.filter(pl.col("canonical") == "BTC-USDT-PERP")
    assert btc["oi_volume_excess"].max() == pytest.approx(worst)


@pytest.mark.shared
def test_usd_values_in_a_base_unit_column_are_caught(shared_data: Path, load) -> None:  # type: ignore[no-untyped-def]
    """SOURCES.md §8: the jabine9966 collector wrote the USD open interest into both OI columns. Read its
    ``open_interest_oi`` column as base units (what the column name claims) and the flag fires: the first
    hour's "ΔOI" is 259,084,130 − 257,766,545 = 1,317,585 against 167,464 SOL traded."""
    rel = "binance_um_sol_jabine9966/SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz"
    with gzip.open(shared_data / rel, "rt") as fh:
        raw = list(csv.DictReader(fh))
    naive = OPEN_INTEREST.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "SOLUSDT",
                "canonical": "SOL-USDT-PERP",
                "interval_ms": HOUR_MS,
                "ts_ms": [int(r["ts"]) for r in raw],
                "oi_base": [float(r["open_interest_oi"]) for r in raw],
            }
        )
    )
    out = oi_volume_consistency(naive, load(rel, "candles"))
    first = out.row(1, named=True)
    assert first["d_oi_base"] == pytest.approx(1_317_584.5759, rel=1e-6)
    assert first["volume_between_base"] == pytest.approx(167_464.47)
    assert first["oi_inconsistent"]
    assert out["oi_inconsistent"].mean() > 0.5  # type: ignore[operator]


def _consistency_inputs(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Three series keyed by integer id: 5-minute candles with gaps, null and zero volumes, one series of
    1-minute candles; snapshots on and between candle edges, some missing OI, some before the candles
    start and after they stop, and a series without candles."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for sid, iv, n in ((0, 5 * 60_000, 400), (1, 60_000, 900), (3, 5 * 60_000, 300)):
        keep = rng.random(n) > 0.05  # gaps
        opens = T0 + np.arange(n, dtype=np.int64)[keep] * iv
        vol = rng.gamma(2.0, 10.0, opens.size)
        vol[rng.random(opens.size) < 0.03] = 0.0
        rows.append(pl.DataFrame({"sid": sid, "interval_ms": iv, "ts_ms": opens, "volume_base": vol}))
    candles = pl.concat(rows).with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 5)
        .then(None)
        .otherwise(pl.col("volume_base"))
        .alias("volume_base"),
        pl.col("ts_ms").cast(TS),
    )
    snaps = []
    for sid in (0, 1, 2, 3):
        t = np.sort(rng.integers(T0 - HOUR_MS, T0 + 40 * HOUR_MS, 250))
        t[::3] -= t[::3] % (5 * 60_000)  # a third on candle edges
        base = 1e4 + np.cumsum(rng.normal(0, 30, t.size))
        snaps.append(pl.DataFrame({"sid": sid, "ts_ms": np.unique(t), "oi_base": base[: np.unique(t).size]}))
    oi_ = pl.concat(snaps).with_columns(
        pl.when(pl.int_range(pl.len()) % 41 == 7).then(None).otherwise(pl.col("oi_base")).alias("oi_base"),
        pl.col("ts_ms").cast(TS),
    )
    return oi_, candles


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oi_volume_consistency_compiled_equals_polars(seed: int) -> None:
    """Integer series ids take the compiled pass; the same rows keyed by strings take the polars form:
    every column equal, floats exactly, nulls in the same places."""
    from polars.testing import assert_frame_equal

    oi_, candles = _consistency_inputs(seed)
    got = oi_volume_consistency(oi_, candles, by=["sid"])
    as_text = [pl.col("sid").cast(pl.String).str.zfill(3)]
    want = oi_volume_consistency(oi_.with_columns(as_text), candles.with_columns(as_text), by=["sid"])
    assert_frame_equal(got, want.with_columns(pl.col("sid").cast(got.schema["sid"])), check_exact=True)
    flags = got.get_column("oi_inconsistent")
    assert flags.null_count() < got.height and flags.sum() > 0 and (~flags).sum() > 0  # both outcomes occur
    assert got.get_column("volume_between_base").null_count() > 0  # and spans left unjudged


@pytest.mark.parametrize("seed", [0, 1])
def test_inconsistent_flags_are_the_functions_column(seed: int) -> None:
    """The flag alone (the panel's form) is :func:`oi_volume_consistency`'s ``oi_inconsistent``, on its
    rows, nulls in the same places."""
    from perpscope.metrics.open_interest import inconsistent_flags

    oi_, candles = _consistency_inputs(seed)
    want = oi_volume_consistency(oi_, candles, by=["sid"])
    got = inconsistent_flags(oi_, candles, by=["sid"])
    assert got is not None
    rows, flag, ok = got
    assert rows.select("sid", "ts_ms").equals(want.select("sid", "ts_ms"))
    col = want.get_column("oi_inconsistent")
    assert ok.tolist() == col.is_not_null().to_list()
    assert flag[ok].tolist() == col.drop_nulls().to_list()
    assert 0 < int(ok.sum()) < ok.shape[0]
    # string keys: not the compiled form's, the caller runs the function
    as_text = [pl.col("sid").cast(pl.String)]
    assert inconsistent_flags(oi_.with_columns(as_text), candles.with_columns(as_text), by=["sid"]) is None
