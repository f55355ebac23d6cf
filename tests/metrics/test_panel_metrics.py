"""The per-bar panel: every column present, nothing from the future (a panel built on a prefix of the
data equals the same prefix of the full panel), several venues and symbols in one call, real data."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from perpscope.core.time import DAY_MS, HOUR_MS, MINUTE_MS
from perpscope.metrics import PanelConfig, build_panel
from perpscope.records import CANDLES, FUNDING, LIQUIDATIONS, LONG_SHORT_RATIOS, OPEN_INTEREST

T0 = 1_760_054_400_000  # 2025-10-10 00:00 UTC
M5 = 5 * MINUTE_MS
TS = pl.Datetime("ms", "UTC")
CFG = PanelConfig(funding_window_ms=2 * DAY_MS, burst_window_ms=DAY_MS, ratio_window_ms=DAY_MS, min_samples=5)


def records(days: int = 3, seed: int = 1) -> dict[str, pl.DataFrame]:
    """Two venues × two perps (+ spot) with 1m candles, 8h and 4h funding, 15m OI with a gap, liquidation
    events, 5m ratios. Synthetic, seeded."""
    rng = np.random.default_rng(seed)
    n = days * 24 * 60
    series = [("binance", "BTC"), ("binance", "ETH"), ("bybit", "BTC")]
    cand, fund, oi, liq, rat = [], [], [], [], []
    for venue, base in series:
        ts = T0 + np.arange(n, dtype=np.int64) * MINUTE_MS
        close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
        vol = rng.gamma(2.0, 5.0, n)
        for market, scale in (("perp", 1.0), ("spot", 0.2)):
            cand.append(
                pl.DataFrame(
                    {
                        "venue": venue,
                        "symbol": base + "USDT",
                        "canonical": f"{base}-USDT-{market.upper()}",
                        "market": market,
                        "price_type": "trade",
                        "interval_ms": MINUTE_MS,
                        "ts_ms": ts,
                        "open": close,
                        "high": close * 1.001,
                        "low": close * 0.999,
                        "close": close * (1 + 0.001 * scale),
                        "volume_base": vol * scale,
                        "volume_quote": vol * scale * close,
                        "trades": 10,
                        "taker_buy_base": vol * scale * 0.5,
                        "taker_buy_quote": vol * scale * close * rng.uniform(0.3, 0.7, n),
                    }
                )
            )
        step = 4 if base == "ETH" else 8
        k = days * 24 // step
        fund.append(
            pl.DataFrame(
                {
                    "venue": venue,
                    "symbol": base + "USDT",
                    "canonical": f"{base}-USDT-PERP",
                    "ts_ms": T0 + (np.arange(k) + 1) * step * HOUR_MS,
                    "rate": rng.normal(1e-4, 1e-4, k),
                    "interval_ms": step * HOUR_MS,
                }
            )
        )
        q = np.arange(0, n, 15)
        q = q[(q < 600) | (q > 900)]  # a five-hour gap in the open interest
        oi.append(
            pl.DataFrame(
                {
                    "venue": venue,
                    "symbol": base + "USDT",
                    "canonical": f"{base}-USDT-PERP",
                    "interval_ms": 15 * MINUTE_MS,
                    "ts_ms": ts[q] + 15 * MINUTE_MS,
                    "oi_base": 1000 + np.cumsum(rng.normal(0, 1, q.size)),
                    "oi_usd": (1000 + np.cumsum(rng.normal(0, 1, q.size))) * close[q],
                }
            )
        )
        e = T0 + np.sort(rng.choice(n * 60, 300, replace=False)) * 1000
        liq.append(
            pl.DataFrame(
                {
                    "venue": venue,
                    "symbol": base + "USDT",
                    "canonical": f"{base}-USDT-PERP",
                    "ts_ms": e,
                    "side": np.where(rng.random(300) < 0.5, "long", "short"),
                    "price": 100.0,
                    "qty_base": rng.gamma(1.0, 1.0, 300),
                }
            ).with_columns((pl.col("price") * pl.col("qty_base")).alias("notional_usd"))
        )
        f = np.arange(0, n, 5)
        for kind in ("global_accounts", "top_positions"):
            rat.append(
                pl.DataFrame(
                    {
                        "venue": venue,
                        "symbol": base + "USDT",
                        "canonical": f"{base}-USDT-PERP",
                        "kind": kind,
                        "interval_ms": M5,
                        "ts_ms": ts[f] + M5,
                        "ratio": np.exp(rng.normal(0, 0.2, f.size)),
                    }
                )
            )
    return {
        "candles": CANDLES.conform(pl.concat(cand)),
        "funding": FUNDING.conform(pl.concat(fund)),
        "open_interest": OPEN_INTEREST.conform(pl.concat(oi)),
        "liquidations": LIQUIDATIONS.conform(pl.concat(liq)),
        "long_short_ratios": LONG_SHORT_RATIOS.conform(pl.concat(rat)),
    }


def cut(rec: dict[str, pl.DataFrame], t_ms: int) -> dict[str, pl.DataFrame]:
    """What was known at ``t_ms``: bars that ended, events that happened, values stamped by then."""
    t = pl.lit(t_ms).cast(pl.Int64).cast(TS)
    out = {}
    for name, df in rec.items():
        if name == "candles":
            out[name] = df.filter(pl.col("ts_ms").dt.epoch("ms") + pl.col("interval_ms") <= t_ms)
        elif name == "liquidations":
            out[name] = df.filter(pl.col("ts_ms") < t)
        else:
            out[name] = df.filter(pl.col("ts_ms") <= t)
    return out


def test_every_column_for_several_venues_and_symbols_in_one_call() -> None:
    p = build_panel(M5, **records(), config=CFG)
    assert p.select("venue", "canonical").unique().sort("venue", "canonical").rows() == [
        ("binance", "BTC-USDT-PERP"),
        ("binance", "ETH-USDT-PERP"),
        ("bybit", "BTC-USDT-PERP"),
    ]
    assert p.height == 3 * 3 * 24 * 12
    for col in (
        "close",
        "volume_usd",
        "cvd_usd",
        "spot_cvd_usd",
        "perp_spot_ratio",
        "basis_spot",
        "funding_rate_8h",
        "funding_z",
        "funding_paid",
        "funding_flow_usd",
        "oi_usd",
        "oi_usd_chg_1d",
        "oi_to_volume_1d",
        "oi_inconsistent",
        "liq_usd",
        "liq_usd_z",
        "liq_burst",
        "liq_complete",
        "ls_global_accounts",
        "ratio_z_top_positions",
    ):
        assert col in p.columns, col
    assert p.filter(pl.col("venue") == "bybit")["liq_complete"].unique().to_list() == [True]
    # ETH settles every 4h: six settlements a day, each in the bar that ends at its instant
    eth_day = p.filter((pl.col("canonical") == "ETH-USDT-PERP") & (pl.col("funding_paid") != 0))
    assert eth_day.height == 3 * 6
    assert set(eth_day["ts_ms"].dt.minute().to_list()) == {55}


def test_the_panel_never_uses_the_future() -> None:
    rec = records()
    full = build_panel(M5, **rec, config=CFG)
    for t_ms in (T0 + 30 * HOUR_MS + 25 * MINUTE_MS, T0 + 52 * HOUR_MS):
        past = build_panel(M5, **cut(rec, t_ms), config=CFG)
        done = full.filter(pl.col("ts_ms").dt.epoch("ms") + M5 <= t_ms)
        past = past.filter(pl.col("ts_ms").dt.epoch("ms") + M5 <= t_ms)
        assert past.height == done.height > 0
        assert_frame_equal(past.select(done.columns), done, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)


def test_a_1h_panel_sums_what_the_5m_panel_holds() -> None:
    rec = records()
    five, hour = build_panel(M5, **rec, config=CFG), build_panel(HOUR_MS, **rec, config=CFG)
    h = pl.col("ts_ms").dt.truncate("1h")
    agg = five.group_by("venue", "canonical", h).agg(pl.col("volume_usd", "liq_usd", "funding_paid").sum())
    j = hour.join(agg, on=["venue", "canonical", "ts_ms"], suffix="_5m")
    for c in ("volume_usd", "liq_usd", "funding_paid"):
        assert j[c].fill_null(0).to_list() == pytest.approx(j[c + "_5m"].to_list())
    assert hour["cvd_usd"].drop_nulls()[-1] == pytest.approx(five["cvd_usd"].drop_nulls()[-1])


# -- real data ----------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_a_1h_panel_of_six_binance_perps_in_march_2026(shared_data: Path, load) -> None:  # type: ignore[no-untyped-def]
    g = "binance_um_gravestone/"
    candles = load(g + "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20250913_20260319.csv.gz", "candles")
    six = candles["canonical"].unique().to_list()
    funding = load(g + "funding_rate_all_usdtm_perps_20260112_20260320.csv.gz", "funding").filter(
        pl.col("canonical").is_in(six)
    )
    oi = load(g + "open_interest_4h_all_usdtm_perps_20260220_20260320.csv.gz", "open_interest").filter(
        pl.col("canonical").is_in(six)
    )
    start = 1_772_323_200_000  # 2026-03-01 00:00 UTC: the first open-interest snapshot left in the file
    p = build_panel(
        HOUR_MS,
        candles=candles.filter(pl.col("ts_ms").dt.epoch("ms") >= start - 30 * DAY_MS),
        funding=funding,
        open_interest=oi,
        start_ms=start,
        end_ms=start + 18 * DAY_MS,
    )
    assert p.height == 6 * 18 * 24
    assert not p["oi_inconsistent"].drop_nulls().any()
    btc = p.filter(pl.col("canonical") == "BTC-USDT-PERP")
    # BTCUSDT paid on 2026-03-05: the three settlements of that day, read from the CSV
    with gzip.open(shared_data / (g + "funding_rate_all_usdtm_perps_20260112_20260320.csv.gz"), "rt") as fh:
        day = [
            float(r["funding_rate"])
            for r in csv.DictReader(fh)
            if r["symbol"] == "BTCUSDT" and 1772668800000 < int(r["timestamp"]) <= 1772755200000 + 100
        ]
    assert len(day) == 3
    paid = btc.filter(pl.col("ts_ms").dt.date() == pl.date(2026, 3, 5))["funding_paid"].sum()
    # the 00:00 settlement of 03-06 belongs to the 23:00 bar of 03-05 (it pays for 16:00–24:00)
    assert paid == pytest.approx(sum(day))
    # the panel's OI at the 4h snapshots is the CSV's
    row = btc.filter(pl.col("ts_ms") == pl.datetime(2026, 3, 5, 3, time_zone="UTC")).row(0, named=True)
    snap = oi.filter(
        (pl.col("canonical") == "BTC-USDT-PERP")
        & (pl.col("ts_ms") == pl.datetime(2026, 3, 5, 4, time_zone="UTC"))
    )
    assert row["oi_base"] == snap["oi_base"][0] and row["oi_ts_ms"] == snap["ts_ms"][0]


def test_one_spot_market_feeds_every_derivative_of_its_pair() -> None:
    """A perp and a dated future of one pair both read the pair's spot candles (a spot row per
    derivative), and the one-perp-per-spot lookup gives what the general join gives."""
    rec = records(days=1)
    c = rec["candles"]
    future = c.filter((pl.col("canonical") == "BTC-USDT-PERP") & (pl.col("venue") == "binance"))
    future = future.with_columns(
        pl.lit("BTC-USDT-20251226").alias("canonical"),
        pl.lit("future").alias("market"),
        (pl.col("close") * 1.01).alias("close"),
    )
    both = build_panel(M5, candles=pl.concat([c, future]), config=CFG)
    alone = build_panel(M5, candles=c, config=CFG)
    spot_cols = ["spot_close", "spot_volume_usd", "spot_cvd_usd", "perp_spot_ratio"]
    dated = both.filter(pl.col("canonical") == "BTC-USDT-20251226")
    perp = both.filter((pl.col("canonical") == "BTC-USDT-PERP") & (pl.col("venue") == "binance"))
    assert dated.height == perp.height > 0
    assert_frame_equal(dated.select(spot_cols), perp.select(spot_cols))
    # basis against the same spot: the future trades 1% over the perp
    ratio = (dated["close"] / dated["spot_close"]) / (perp["close"] / perp["spot_close"])
    assert np.allclose(ratio.to_numpy(), 1.01)
    # every series that had a spot column alone has the same one beside the future
    assert_frame_equal(both.filter(pl.col("canonical") != "BTC-USDT-20251226"), alone)


def test_candle_rows_by_market_or_by_series_give_one_panel() -> None:
    """Perp rows then spot rows (one block each: their series are found once, on the trade rows) or
    each series' perp and spot rows in turn (filtered): the same panel."""
    rec = records(days=1)
    by_series = rec["candles"]
    by_market = pl.concat([by_series.filter(pl.col("market") == m) for m in ("perp", "spot")])
    assert by_market.get_column("market").rle_id().max() == 1  # two blocks
    assert by_series.get_column("market").rle_id().max() > 1  # interleaved
    a = build_panel(M5, **{**rec, "candles": by_market}, config=CFG)
    b = build_panel(M5, **{**rec, "candles": by_series}, config=CFG)
    assert a.get_column("spot_close").null_count() < a.height
    assert_frame_equal(a, b, check_exact=True)
