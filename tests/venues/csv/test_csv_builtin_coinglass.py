"""Built-in formats for the CoinGlass sets and the files that are recognized but not importable.

CoinGlass data is read from ``../shared/data`` only (its terms may forbid redistribution: nothing of
it is copied into the project). Expected values come from SOURCES.md or from the source rows read
here with plain polars; cross-source checks compare against the independent Binance sets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from perpscope.core.errors import InputError
from perpscope.records import (
    CANDLES,
    FUNDING,
    LIQUIDATION_TOTALS,
    LONG_SHORT_RATIOS,
    OPEN_INTEREST,
    TAKER_VOLUME,
)
from perpscope.venues.base import Parsed, first_line
from perpscope.venues.csv import FORMATS, MappedFormat, NotImportableError

pytestmark = pytest.mark.shared
H = 3_600_000
FIX = Path(__file__).resolve().parents[2] / "fixtures"


def ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def parse(path: Path, name: str) -> list[Parsed]:
    [f] = [f for f in FORMATS if f.name == name]
    assert f.sniff(path, first_line(path)), f"{name} should recognize {path.name}"
    return f.parse(path)


def at(df: pl.DataFrame, t: int, **eq: str) -> dict[str, Any]:
    rows = df.filter(pl.col("ts_ms").dt.epoch("ms") == t, *(pl.col(k) == v for k, v in eq.items()))
    assert rows.height == 1, (t, eq, rows)
    return rows.row(0, named=True)


def test_every_shared_file_has_exactly_one_csv_format(shared_data: Path) -> None:
    # a format that requires a file name is tried first and wins over a header-only format of the same
    # layout (the header-only ones refuse files whose name does not say the coin or market)
    for path in sorted(shared_data.rglob("*.csv*")):
        matching = [f for f in FORMATS if f.sniff(path, first_line(path))]
        named = [f for f in matching if isinstance(f, MappedFormat) and f.spec.files]
        names = [f.name for f in (named or matching)]
        if path.parent.name == "binance_metrics_daily_dosh8":
            assert names == [], "Binance metrics files belong to venues/archive's metrics format"
        else:
            assert len(names) == 1, (path, names)


def test_no_coinglass_data_in_fixtures() -> None:
    cg_headers = {
        tuple(f.spec.header)
        for f in FORMATS
        if isinstance(f, MappedFormat) and f.spec.header and f.name.startswith("coinglass")
    }
    for p in FIX.rglob("*.csv*"):
        assert tuple(first_line(p).split(",")) not in cg_headers, p


@pytest.mark.parametrize(
    ("rel", "name", "why"),
    [
        (
            "coinglass_total_liq_snapshots/coinglass_total_liquidations_snapshots_2025-07-26_2025-08-19.csv.gz",
            "coinglass_total_liq_snapshots",
            "rolling-window",
        ),
        (
            "hyperliquid_official/liquidations_2023-02-28_2023-05-01.csv",
            "hyperliquid_liquidations_early",
            "no coin",
        ),
        ("coinglass_liquidity_report/snapshot_commits.csv", "coinglass_snapshot_commits", "provenance"),
    ],
)
def test_recognized_but_not_importable(shared_data: Path, rel: str, name: str, why: str) -> None:
    with pytest.raises(NotImportableError, match=why) as ei:
        parse(shared_data / rel, name)
    assert isinstance(ei.value, InputError) and ei.value.path == str(shared_data / rel)


# -- coinglass_liquidity_report ------------------------------------------------------------------------

LR = "coinglass_liquidity_report"


def test_liquidations_4h(shared_data: Path) -> None:
    [p] = parse(
        shared_data / LR / "liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz", "coinglass_liquidations_by_coin"
    )
    assert p.record is LIQUIDATION_TOTALS and p.frame.height == 8780
    # SOURCES.md: 2025-10-10 20:00 bar: BTC long 235.6 M, short 107.5 M USD (bar open time)
    r = at(p.frame, ms(2025, 10, 10, 20), canonical="BTC-AGG-PERP")
    assert (r["venue"], r["symbol"], r["interval_ms"]) == ("binance", "BTC", 4 * H)
    assert r["long_usd"] == pytest.approx(235.6e6, abs=0.05e6)
    assert r["short_usd"] == pytest.approx(107.5e6, abs=0.05e6)


def test_open_interest_aggregated(shared_data: Path) -> None:
    path = shared_data / LR / "open_interest_aggregated_all_exchanges_4h_BTC_ETH_SOL_XRP.csv.gz"
    [p] = parse(path, "coinglass_open_interest_aggregated")
    raw = pl.read_csv(path)
    assert p.frame.height == raw.filter(pl.col("margin") == "all").height
    assert any("margin=coin_margined" in n for n in p.notes)
    btc = p.frame.filter(pl.col("canonical") == "BTC-AGG-PERP", pl.col("venue") == "all")
    # the close of the bar opening 2025-10-10 08:00 is stamped at its end, 12:00
    src = raw.filter(
        pl.col("coin") == "BTC", pl.col("margin") == "all", pl.col("time_ms") == ms(2025, 10, 10, 8)
    )
    assert at(btc, ms(2025, 10, 10, 12))["oi_usd"] == src.get_column("close").item()
    # SOURCES.md: BTC falls from 90.2 B to 69.8 B on 2025-10-10
    before = btc.filter(pl.col("ts_ms").dt.epoch("ms").is_between(ms(2025, 10, 10), ms(2025, 10, 10, 16)))
    after = btc.filter(pl.col("ts_ms").dt.epoch("ms").is_between(ms(2025, 10, 11), ms(2025, 10, 12, 8)))
    assert before.get_column("oi_usd").max() == pytest.approx(90.2e9, abs=0.1e9)
    assert after.get_column("oi_usd").min() == pytest.approx(69.8e9, abs=0.1e9)


def test_open_interest_by_exchange(shared_data: Path) -> None:
    path = shared_data / LR / "open_interest_by_exchange_4h_BTC_ETH_SOL_XRP.csv.gz"
    [p] = parse(path, "coinglass_open_interest_by_exchange")
    raw = pl.read_csv(path)
    assert p.frame.height == raw.height
    venues = set(p.frame.get_column("venue"))
    assert {"binance", "bybit", "okx", "cme", "hyperliquid", "gate", "cryptocom"} <= venues
    assert not any(v != v.lower() or "." in v for v in venues)
    # GATE.IO rows (2025-05-15 → 05-17) became venue gate: same count of gate rows as both spellings
    assert (
        p.frame.filter(pl.col("venue") == "gate").height
        == raw.filter(pl.col("exchange").is_in(["GATE", "GATE.IO"])).height
    )
    src = raw.row(0, named=True)  # 2025-05-15 20:00, BTC, BINANCE, 11559622624.0
    r = at(p.frame, src["time_ms"], venue="binance", symbol="BTC")
    assert (r["oi_usd"], r["canonical"], r["interval_ms"]) == (src["oi_usd"], "BTC-AGG-PERP", 4 * H)


def test_funding_by_exchange(shared_data: Path) -> None:
    path = shared_data / LR / "funding_rate_by_exchange_8h_BTC_ETH_pct.csv.gz"
    [p] = parse(path, "coinglass_funding_by_exchange")
    assert p.record is FUNDING and p.frame.height == pl.read_csv(path).height
    # line 4: 2024-11-21 00:00, BTC, BINANCE, close 0.01 (%) → 0.0001, sampled at the bar's end 08:00
    r = at(p.frame, ms(2024, 11, 21, 8), venue="binance", symbol="BTC")
    assert (r["rate"], r["interval_ms"]) == (pytest.approx(0.0001), 8 * H)
    hl = p.frame.filter(pl.col("venue") == "hyperliquid")
    assert set(hl.get_column("interval_ms")) == {H}
    # Hyperliquid's baseline hourly rate is 0.00125 % = 0.0000125
    assert hl.get_column("rate").median() == pytest.approx(0.0000125, rel=0.01)


def test_funding_weighted(shared_data: Path) -> None:
    path = shared_data / LR / "funding_rate_weighted_4h_BTC_ETH_SOL_XRP_pct.csv.gz"
    oi, vol = parse(path, "coinglass_funding_weighted")
    assert (oi.frame.height, vol.frame.height) == (8780, 8780)
    assert set(oi.frame.get_column("venue")) == {"all-oi-weighted"}
    assert set(vol.frame.get_column("venue")) == {"all-volume-weighted"}
    # line 2: 2024-11-13 20:00, BTC, oi, close 0.01639 (%) → stamped 2024-11-14 00:00
    assert at(oi.frame, ms(2024, 11, 14), canonical="BTC-AGG-PERP")["rate"] == pytest.approx(0.0001639)
    assert at(vol.frame, ms(2024, 11, 14), canonical="BTC-AGG-PERP")["rate"] == pytest.approx(0.00013577)


def test_binance_btcusdt_4h(shared_data: Path) -> None:
    path = shared_data / LR / "binance_BTCUSDT_4h_price_ls_ratios_orderbook_taker.csv.gz"
    parts = parse(path, "coinglass_binance_btcusdt_4h")
    by = {
        (p.record.name, p.frame.get_column("canonical")[0]): p
        for p in parts
        if p.record is not LONG_SHORT_RATIOS
    }
    ratios = pl.concat([p.frame for p in parts if p.record is LONG_SHORT_RATIOS])
    assert set(ratios.get_column("kind")) == {"global_accounts", "top_accounts", "top_positions"}
    # line 10: bar 2024-11-14 04:00: global 48.75 / 51.25 / 0.95, top accounts 50.25/49.75/1.01,
    # top positions 62.58/37.42/1.67 — stamped at the bar's end, 08:00
    t = ms(2024, 11, 14, 8)
    g = at(ratios, t, kind="global_accounts")
    assert (g["ratio"], g["long_share"], g["short_share"]) == (
        0.95,
        pytest.approx(0.4875),
        pytest.approx(0.5125),
    )
    assert at(ratios, t, kind="top_positions")["ratio"] == 1.67
    assert ratios.height == 3 * 2195  # 2201 rows, 6 without ratios
    candles = by[("candles", "BTC-USDT-PERP")].frame
    assert by[("candles", "BTC-USDT-PERP")].record is CANDLES and candles.height == 2201
    # SOURCES.md: this price equals LeopoldLj's 4h klines, perp_volume_usd its volume_quote (measured:
    # 99.7% of closes identical, the rest within 0.01%; opens sometimes the previous close ± a tick)
    lj = pl.read_csv(shared_data / "binance_um_klines_leopoldlj" / "BTCUSDT_perp_4h_20191001_20260210.csv.gz")
    j = candles.with_columns(t=pl.col("ts_ms").dt.epoch("ms")).join(lj, left_on="t", right_on="open_time_ms")
    assert j.height == 2201 and (j["close"] == j["close_right"]).mean() > 0.99  # type: ignore[operator]
    assert ((j["close"] / j["close_right"] - 1).abs() < 1e-4).all()
    assert (j["volume_quote"] / j["volume_quote_right"] - 1).abs().median() < 1e-9  # type: ignore[operator]
    assert by[("taker_volume", "BTC-AGG-PERP")].frame.height == 2195
    assert by[("taker_volume", "BTC-USDT-SPOT")].frame.height == 2201 - 54
    assert by[("taker_volume", "BTC-USDT-SPOT")].record is TAKER_VOLUME


def test_taker_volume_and_spot_price(shared_data: Path) -> None:
    spot, perp = parse(shared_data / LR / "taker_volume_BTC_ETH_SOL_XRP.csv.gz", "coinglass_taker_volume")
    assert set(spot.frame.get_column("canonical")) == {f"{c}-USDT-SPOT" for c in ("BTC", "ETH", "SOL", "XRP")}
    assert set(spot.frame.get_column("interval_ms")) == {4 * H} and spot.frame.height == 4 * 2147
    assert set(perp.frame.get_column("canonical")) == {f"{c}-AGG-PERP" for c in ("BTC", "ETH", "SOL", "XRP")}
    assert set(perp.frame.get_column("interval_ms")) == {24 * H} and perp.frame.height == 4 * 358
    # first line: 2024-11-21 00:00, BTC, perp_binance_1d, 24726164276.4911, 23994257014.9765
    r = at(perp.frame, ms(2024, 11, 21), symbol="BTC")
    assert (r["buy_usd"], r["sell_usd"], r["market"]) == (24726164276.4911, 23994257014.9765, "perp")
    [px] = parse(shared_data / LR / "binance_spot_price_1d_BTC_ETH_SOL_XRP.csv.gz", "coinglass_spot_price_1d")
    # first line: 2024-11-21, BTC, 94286.56, 98988.0, 94040.0, 98317.12, volume_usd 6721966823.3044
    b = at(px.frame, ms(2024, 11, 21), symbol="BTCUSDT")
    assert (b["open"], b["high"], b["low"], b["close"]) == (94286.56, 98988.0, 94040.0, 98317.12)
    assert (b["volume_quote"], b["market"], b["interval_ms"]) == (6721966823.3044, "spot", 24 * H)


# -- coinglass_btc_liquidation_lab ---------------------------------------------------------------------

LAB = "coinglass_btc_liquidation_lab"


def test_regime_1h_against_binance(shared_data: Path) -> None:
    parts = parse(shared_data / LAB / "btc_regime_1h_20251204_20260602.csv.gz", "coinglass_btc_regime")
    by = {(p.record.name, p.frame.get_column("venue")[0]): p.frame for p in parts}
    spot = by[("candles", "binance")]
    assert set(spot.get_column("canonical")) == {"BTC-USDT-SPOT"} and set(spot.get_column("interval_ms")) == {
        H
    }
    liq = by[("liquidation_totals", "binance+bybit+okx")]
    assert set(liq.get_column("canonical")) == {"BTC-AGG-PERP"}
    # first line: 2025-12-04 06:00: long 42620.5427, short 1499665.49438, funding_close 0.005673 (%)
    r = at(liq, ms(2025, 12, 4, 6))
    assert (r["long_usd"], r["short_usd"]) == (42620.5427, 1499665.49438)
    fund = by[("funding", "binance")]
    assert at(fund, ms(2025, 12, 4, 7))["rate"] == pytest.approx(0.00005673)
    # SOURCES.md: CoinGlass hourly funding matches Binance settlements to 5e-6: the bar close stamped at
    # the settlement instant is within that of gravestone's settlement
    g = pl.read_csv(
        shared_data / "binance_um_gravestone" / "funding_rate_all_usdtm_perps_20260112_20260320.csv.gz"
    )
    g = g.filter(pl.col("symbol") == "BTCUSDT").with_columns(t=(pl.col("timestamp") + 500) // 1000 * 1000)
    j = fund.with_columns(t=pl.col("ts_ms").dt.epoch("ms")).join(g, on="t")
    assert j.height > 50 and ((j["rate"] - j["funding_rate"]).abs() <= 5e-6).all()
    # SOURCES.md: CoinGlass Binance BTCUSDT OI / Binance sumOpenInterestValue ≈ 0.99996
    oi = by[("open_interest", "binance")]
    b = pl.read_csv(
        shared_data / "binance_um_gravestone" / "open_interest_4h_all_usdtm_perps_20260220_20260320.csv.gz"
    )
    j = oi.with_columns(t=pl.col("ts_ms").dt.epoch("ms")).join(
        b.filter(pl.col("symbol") == "BTCUSDT"), left_on="t", right_on="timestamp"
    )
    ratio = j["oi_usd"] / j["sum_open_interest_value"]
    assert j.height > 100 and 0.9995 < ratio.median() < 1.0002  # type: ignore[operator]
    # the price is Binance SPOT: about $38 above the perp's 1h open at the same instant
    k = pl.read_csv(
        shared_data
        / "binance_um_gravestone"
        / "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20250913_20260319.csv.gz"
    )
    j = spot.with_columns(t=pl.col("ts_ms").dt.epoch("ms")).join(
        k.filter(pl.col("symbol") == "BTCUSDT"), left_on="t", right_on="timestamp"
    )
    assert 20 < (j["open"] - j["open_right"]).median() < 60  # type: ignore[operator]
    assert set(by[("funding", "all-oi-weighted")].get_column("canonical")) == {"BTC-AGG-PERP"}


def test_regime_30m_and_liquidation_files(shared_data: Path) -> None:
    parts = parse(shared_data / LAB / "btc_regime_30m_20260521_20260608.csv.gz", "coinglass_btc_regime")
    for p in parts:
        assert p.frame.height == 875
        if p.record in (CANDLES, LIQUIDATION_TOTALS, OPEN_INTEREST):
            assert set(p.frame.get_column("interval_ms")) == {30 * 60_000}
        else:
            assert set(p.frame.get_column("interval_ms")) == {8 * H}  # a funding rate's own interval
    for name, interval, n in (
        ("btc_liquidations_agg_binance_bybit_okx_1h_20251123_20260522.csv.gz", H, 2904),
        ("btc_liquidations_agg_binance_bybit_okx_30m_20260221_20260528.csv.gz", 30 * 60_000, 4232),
    ):
        [p] = parse(shared_data / LAB / name, "coinglass_btc_liquidations_agg")
        assert p.frame.height == n and set(p.frame.get_column("interval_ms")) == {interval}
        raw = pl.read_csv(shared_data / LAB / name).row(1, named=True)
        r = at(p.frame, raw["timestamp"])
        assert (r["long_usd"], r["short_usd"], r["venue"]) == (
            raw["longUsd"],
            raw["shortUsd"],
            "binance+bybit+okx",
        )


def test_binance_5m_file(shared_data: Path) -> None:
    path = shared_data / LAB / "btc_binance_perp_5m_price_oi_funding_20260525_20260622.csv.gz"
    candles, oi = parse(path, "coinglass_btc_binance_5m")
    raw = pl.read_csv(path)
    assert candles.frame.height == raw.height == 8014
    assert set(candles.frame.get_column("canonical")) == {"BTC-USDT-PERP"}
    # forward-filled OI (a value equal to the previous row's) is not stored as an observation
    repeats = int((raw["oi_usd_binance_5m"] == raw["oi_usd_binance_5m"].shift(1)).sum())
    assert repeats > 0.15 * raw.height  # SOURCES.md: about 21 % of rows repeat
    assert oi.frame.height == raw.height - repeats
    first = raw.row(0, named=True)
    assert at(oi.frame, first["timestamp"])["oi_usd"] == first["oi_usd_binance_5m"]
