"""Built-in formats for the Binance-sourced CSV sets: fixtures copied from the shared data, then the
shared files themselves. Expected values are the source rows (quoted literally, or read here with
plain polars), never the parser's own output; SOURCES.md facts are cited where used.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from perpscope.records import CANDLES, LIQUIDATIONS, LONG_SHORT_RATIOS, OPEN_INTEREST, TAKER_VOLUME
from perpscope.venues.base import Parsed, first_line
from perpscope.venues.csv import FORMATS, MappedFormat

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "csv"
H = 3_600_000


def ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def fmt(name: str) -> MappedFormat:
    [f] = [f for f in FORMATS if f.name == name]
    assert isinstance(f, MappedFormat)
    return f


def parse(path: Path, name: str) -> list[Parsed]:
    f = fmt(name)
    assert f.sniff(path, first_line(path)), f"{name} should recognize {path.name}"
    return f.parse(path)


def epoch(df: pl.DataFrame, col: str = "ts_ms") -> list[int]:
    return df.get_column(col).dt.epoch("ms").to_list()


# -- fixtures (offline) -------------------------------------------------------------------------------


def test_force_orders_fixture() -> None:
    [p] = parse(FIX / "binance_force_orders_sample.csv", "binance_force_orders")
    assert p.record is LIQUIDATIONS
    rows = {(r.symbol, r.ts_ms): r for r in LIQUIDATIONS.to_records(p.frame)}
    # 10 data lines: one an identical repeat of the line before it, one of 币安人生 (no ASCII ticker,
    # so no canonical symbol: skipped with a note)
    assert len(rows) == 8 and p.frame.height == 8 and any("identical" in n for n in p.notes)
    assert any("币安人生USDT" in n and "skipped 1 row" in n for n in p.notes)
    # 1000PEPE,SELL,...,price 0.0107751,avg 0.0109313,...,filled 43942,t 1718901133106
    pepe = rows[("1000PEPEUSDT", 1718901133106)]
    assert (pepe.canonical, pepe.side, pepe.price, pepe.qty_base) == (
        "1000PEPE-USDT-PERP",
        "long",
        0.0109313,
        43942,
    )
    assert pepe.notional_usd == pytest.approx(43942 * 0.0109313)
    # FLUX,BUY,...,price 0.1895000,avg None,...,filled 5739: order price used
    flux = rows[("FLUXUSDT", 1750713727423)]
    assert (flux.side, flux.price, flux.notional_usd) == ("short", 0.1895, pytest.approx(5739 * 0.1895))
    # ETH_250627 is the dated future ETHUSDT_250627 with USDT stripped
    eth = rows[("ETHUSDT_250627", 1750715637577)]
    assert (eth.canonical, eth.side, eth.price) == ("ETH-USDT-250627", "long", 2314.68)
    # quotes already present are kept; PUMPBTC is PUMPBTCUSDT, not PUMP/BTC
    assert rows[("BTCUSDC", 1737996812265)].canonical == "BTC-USDC-PERP"
    assert rows[("PUMPBTCUSDT", 1766848024456)].canonical == "PUMPBTC-USDT-PERP"
    # BTC,BUY,...,59935.28,59697.40,...,0.025 — SOURCES.md §5: prices include 59.3k on 2024-08-17
    btc = rows[("BTCUSDT", 1723971641090)]
    assert (btc.side, btc.price, btc.qty_base) == ("short", 59697.40, 0.025)


def test_gravestone_funding_fixture_intervals() -> None:
    [p] = parse(FIX / "gravestone_funding_sample.csv", "gravestone_funding")
    f = p.frame
    btc = f.filter(pl.col("symbol") == "BTCUSDT")
    # 1772323200005 → rounded to the second: 2026-03-01 00:00:00
    assert epoch(btc) == [ms(2026, 3, 1, h) if h < 24 else ms(2026, 3, 2) for h in (0, 8, 16, 24)]
    assert set(btc.get_column("interval_ms")) == {8 * H}
    assert btc.get_column("rate").to_list() == [-6.88e-06, 4.563e-05, 2.948e-05, -2.99e-06]
    cos = f.filter(pl.col("symbol") == "COSUSDT")
    hours = [(t - ms(2026, 3, 8)) / H for t in epoch(cos)]
    assert hours == [0, 4, 8, 12, 13, 14, 15, 16, 60, 61, 62, 63, 64, 65, 68, 72, 76]
    # 4h schedule; −2% cap at 12:00 then hourly; 44h hole → next spacing; 1h→4h switch: one 3h period
    assert [x // H for x in cos.get_column("interval_ms")] == [
        4,
        4,
        4,
        4,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        3,
        4,
        4,
    ]


def test_denniskid_spot_fixture() -> None:
    [p] = parse(FIX / "BTCUSDT_spot_1h_denniskid_sample.csv", "denniskid_spot_klines")
    f = p.frame
    assert p.record is CANDLES and f.height == 8
    assert set(f.get_column("venue")) == {"binance"} and set(f.get_column("symbol")) == {"BTCUSDT"}
    assert set(f.get_column("canonical")) == {"BTC-USDT-SPOT"} and set(f.get_column("market")) == {"spot"}
    assert set(f.get_column("price_type")) == {"trade"} and set(f.get_column("interval_ms")) == {H}
    # first line: 2021-04-03T00:00:00,58950.010000,59450.080000,58931.300000,59387.130000,1706.898053
    first = f.row(0, named=True)
    assert epoch(f)[0] == ms(2021, 4, 3)
    assert (first["open"], first["high"], first["low"], first["close"], first["volume_base"]) == (
        58950.01,
        59450.08,
        58931.3,
        59387.13,
        1706.898053,
    )
    # no quote volume, trades or taker columns in the file: left empty, not derived
    for col in ("volume_quote", "trades", "taker_buy_base", "taker_buy_quote"):
        assert f.get_column(col).null_count() == f.height, col
    assert any("not estimated" in n for n in p.notes)
    # the 2021-04-20 02:00–03:00 outage (SOURCES.md §13 gaps) stays a gap: 01:00 then 04:00, nothing filled
    assert epoch(f)[3:5] == [ms(2021, 4, 20, 1), ms(2021, 4, 20, 4)]
    # 2025-10-10T21:00:00,114266.82,115112.69,102000.00,113451.86,22932.63034 — the spot low (perp: 101,516.5)
    wick = f.filter(pl.col("ts_ms").dt.epoch("ms") == ms(2025, 10, 10, 21)).row(0, named=True)
    assert (wick["low"], wick["close"], wick["volume_base"]) == (102000.0, 113451.86, 22932.63034)


def test_denniskid_spot_header_alone_does_not_claim_a_file(tmp_path: Path) -> None:
    # the header (timestamp,open,high,low,close,volume) is generic: only BTCUSDT_spot_1h_* names are sniffed,
    # since the symbol, the market and the bar length come from the name
    body = (FIX / "BTCUSDT_spot_1h_denniskid_sample.csv").read_text()
    for name in (
        "ohlcv.csv",
        "ETHUSDT_spot_1h_2024.csv",
        "BTCUSDT_perp_1h_2024.csv",
        "BTCUSDT_spot_4h_2024.csv",
    ):
        path = tmp_path / name
        path.write_text(body)
        assert not fmt("denniskid_spot_klines").sniff(path, first_line(path)), name


# -- shared data ----------------------------------------------------------------------------------------


@pytest.mark.shared
def test_force_orders_all_files(shared_data: Path) -> None:
    files = sorted((shared_data / "binance_force_orders").glob("*.csv.gz"))
    assert len(files) == 6
    for path in files:
        [p] = parse(path, "binance_force_orders")
        raw = pl.read_csv(path, infer_schema=False).filter(~pl.col("symbol").str.contains(r"[^\x00-\x7F]"))
        key = ["symbol", "side", "price", "avg_price", "filled_accum_qty", "trade_time_ms"]
        assert p.frame.height == raw.unique(subset=key).height, path.name
        longs = raw.unique(subset=key).filter(pl.col("side") == "SELL").height
        assert p.frame.filter(pl.col("side") == "long").height == longs, path.name
    # SOURCES.md §5: BTC prices include 99.4k on 2025-01-27 and 87.2k on 2025-12-27
    [p] = fmt("binance_force_orders").parse(shared_data / "binance_force_orders" / files[4].name)
    paulius = p.frame.filter(
        pl.col("symbol") == "BTCUSDT", pl.col("ts_ms").dt.date() == datetime(2025, 1, 27).date()
    )
    assert 99_000 < paulius.get_column("price").median() < 99_800  # type: ignore[operator]
    [r] = fmt("binance_force_orders").parse(files[5])
    riftfern = r.frame.filter(pl.col("symbol") == "BTCUSDT")
    assert 86_800 < riftfern.get_column("price").median() < 87_600  # type: ignore[operator]


@pytest.mark.shared
def test_gravestone_funding(shared_data: Path) -> None:
    path = shared_data / "binance_um_gravestone" / "funding_rate_all_usdtm_perps_20260112_20260320.csv.gz"
    [p] = parse(path, "gravestone_funding")
    raw = pl.read_csv(path)
    assert p.frame.height == raw.height and p.frame.get_column("symbol").n_unique() == 539
    btc = p.frame.filter(pl.col("symbol") == "BTCUSDT")
    raw_btc = raw.filter(pl.col("symbol") == "BTCUSDT").get_column("funding_rate")
    # SOURCES.md: range −0.000152 … +0.0001 over Jan–Mar; the withheld Jan–Feb rows are not in the file,
    # so the bounds are those of the rows present (read above), still inside the documented range
    assert btc.get_column("rate").min() == raw_btc.min() and btc.get_column("rate").max() == raw_btc.max()
    assert raw_btc.min() >= -0.000152 and raw_btc.max() <= 0.0001  # type: ignore[operator]
    # BTCUSDT settles at 00/08/16 UTC every 8h (SOURCES.md), stamped a few ms late → whole seconds
    assert set(btc.get_column("interval_ms")) == {8 * H}
    assert set(btc.get_column("ts_ms").dt.hour()) == {0, 8, 16}
    assert set(btc.get_column("ts_ms").dt.epoch("ms") % 1000) == {0}
    # maximum |rate| is 0.02, Binance's cap
    assert p.frame.get_column("rate").abs().max() == 0.02
    assert set(p.frame.get_column("interval_ms").unique()) <= {H, 2 * H, 3 * H, 4 * H, 8 * H}


@pytest.mark.shared
def test_gravestone_klines(shared_data: Path) -> None:
    d = shared_data / "binance_um_gravestone"
    for path, interval in (
        (d / "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20250913_20260319.csv.gz", H),
        (d / "klines_4h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20240228_20260319.csv.gz", 4 * H),
        (d / "klines_1d_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20240110_20260318.csv.gz", 24 * H),
    ):
        [p] = parse(path, "gravestone_klines")
        assert p.record is CANDLES
        assert p.frame.height == pl.read_csv(path).height
        assert set(p.frame.get_column("interval_ms")) == {interval}
        assert set(p.frame.get_column("canonical")) == {
            f"{c}-USDT-PERP" for c in ("BTC", "ETH", "SOL", "XRP", "BNB", "DOGE")
        }
    [h1] = fmt("gravestone_klines").parse(
        d / "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20250913_20260319.csv.gz"
    )
    # SOURCES.md: the 2025-10-10 21:00 bar: low 101,516.5, the known Binance perp wick
    bar = h1.frame.filter(
        pl.col("symbol") == "BTCUSDT", pl.col("ts_ms").dt.epoch("ms") == ms(2025, 10, 10, 21)
    )
    assert bar.get_column("low").to_list() == [101516.5]
    [d1] = fmt("gravestone_klines").parse(
        d / "klines_1d_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20240110_20260318.csv.gz"
    )
    btc = d1.frame.filter(pl.col("symbol") == "BTCUSDT")
    # SOURCES.md: 2025-01-20 high 110,000; 2025-08-14 high 124,545.6
    for day, high in (((2025, 1, 20), 110_000.0), ((2025, 8, 14), 124_545.6)):
        assert btc.filter(pl.col("ts_ms").dt.epoch("ms") == ms(*day)).get_column("high").to_list() == [high]


@pytest.mark.shared
def test_gravestone_open_interest_is_priced_at_its_timestamp(shared_data: Path) -> None:
    d = shared_data / "binance_um_gravestone"
    [oi4] = parse(d / "open_interest_4h_all_usdtm_perps_20260220_20260320.csv.gz", "gravestone_open_interest")
    [oi1] = parse(d / "open_interest_1d_all_usdtm_perps_20260221_20260320.csv.gz", "gravestone_open_interest")
    assert oi4.record is OPEN_INTEREST
    assert set(oi4.frame.get_column("interval_ms")) == {4 * H} and set(
        oi1.frame.get_column("interval_ms")
    ) == {24 * H}
    assert (
        oi4.frame.height
        == pl.read_csv(d / "open_interest_4h_all_usdtm_perps_20260220_20260320.csv.gz").height
    )
    # oi_usd / oi_base is the price AT ts_ms: the open of the Binance 1h kline starting then
    k = pl.read_csv(d / "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20250913_20260319.csv.gz")
    j = oi4.frame.with_columns(t=pl.col("ts_ms").dt.epoch("ms")).join(
        k, left_on=["t", "symbol"], right_on=["timestamp", "symbol"]
    )
    assert j.height > 300
    dev = ((j["oi_usd"] / j["oi_base"]) / j["open"] - 1).abs().median()
    assert dev < 2e-4  # type: ignore[operator]


@pytest.mark.shared
def test_leopoldlj_klines(shared_data: Path) -> None:
    d = shared_data / "binance_um_klines_leopoldlj"
    [h1] = parse(d / "BTCUSDT_perp_1h_20191001_20260210.csv.gz", "leopoldlj_klines")
    f = h1.frame
    assert set(f.get_column("interval_ms")) == {H} and set(f.get_column("canonical")) == {"BTC-USDT-PERP"}
    # first line: 1569888000000,1569891599999,8285.31,8312.3,8187.57,8199.03,1413.669,...,3288,679.314,...
    first = f.row(0, named=True)
    assert (first["open"], first["close"], first["trades"], first["taker_buy_base"]) == (
        8285.31,
        8199.03,
        3288,
        679.314,
    )
    # SOURCES.md: 2024-08-05 low 48,888 (the day's lowest hourly low)
    day = f.filter(pl.col("ts_ms").dt.date() == datetime(2024, 8, 5).date())
    assert day.get_column("low").min() == pytest.approx(48_888, abs=1)
    for name, interval in (
        ("BTCUSDT_perp_5m_20251006_20251015.csv.gz", 300_000),
        ("BTCUSDT_perp_4h_20191001_20260210.csv.gz", 4 * H),
    ):
        [p] = parse(d / name, "leopoldlj_klines")
        assert set(p.frame.get_column("interval_ms")) == {interval}
    # SOURCES.md: OHLC matches gravestone's 1h klines on every overlapping hour
    g = pl.read_csv(
        shared_data
        / "binance_um_gravestone"
        / "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20250913_20260319.csv.gz"
    )
    j = f.with_columns(t=pl.col("ts_ms").dt.epoch("ms")).join(
        g.filter(pl.col("symbol") == "BTCUSDT"), left_on="t", right_on="timestamp", suffix="_g"
    )
    assert j.height > 2000
    for c in ("open", "high", "low", "close"):
        assert (j[c] == j[f"{c}_g"]).all()


@pytest.mark.shared
def test_denniskid_spot_klines(shared_data: Path) -> None:
    path = shared_data / "binance_spot_klines_denniskid" / "BTCUSDT_spot_1h_20210403_20260403.csv.gz"
    [p] = parse(path, "denniskid_spot_klines")
    f = p.frame
    # SOURCES.md §13: 42,420 rows here, 2021-04-03 00:00 → 2026-04-03 23:00
    assert f.height == 42_420 and epoch(f)[0] == ms(2021, 4, 3) and epoch(f)[-1] == ms(2026, 4, 3, 23)
    assert set(f.get_column("canonical")) == {"BTC-USDT-SPOT"} and set(f.get_column("interval_ms")) == {H}
    assert f.get_column("volume_quote").null_count() == f.height
    # SOURCES.md §13: five gaps, all Binance spot outages before 2024; besides them only the withheld months
    t = pl.Series(epoch(f))
    holes = [(a, b) for a, b in itertools.pairwise(t) if b - a != H]
    assert [datetime.fromtimestamp(a / 1000, UTC).date().isoformat() for a, _ in holes] == [
        "2021-04-20",
        "2021-04-25",
        "2021-08-13",
        "2021-09-29",
        "2023-03-24",
        "2025-12-31",
    ]
    assert holes[-1] == (ms(2025, 12, 31, 23), ms(2026, 3, 1))
    # SOURCES.md §13: the 2025-10-10 21:00 bar's spot low is 102,000.00 (the perp's is 101,516.5)
    spot = f.filter(pl.col("ts_ms").dt.date() == datetime(2025, 10, 10).date())
    crash_hour = spot.filter(pl.col("ts_ms").dt.epoch("ms") == ms(2025, 10, 10, 21))
    assert crash_hour.get_column("low").to_list() == [102000.0]
    # spot vs the Binance perp (binance_um_klines_leopoldlj 1h) over the 24 hours of 2025-10-10: the spot
    # close is above the perp close in every hour, by 0.028% (17:00: 117,623.80 vs 117,590.8) to 0.175%
    # (21:00, the crash hour: 113,451.86 vs 113,253.6) — well inside 1%
    [perp] = parse(
        shared_data / "binance_um_klines_leopoldlj" / "BTCUSDT_perp_1h_20191001_20260210.csv.gz",
        "leopoldlj_klines",
    )
    j = spot.join(perp.frame, on="ts_ms", suffix="_perp").with_columns(
        gap=pl.col("close") / pl.col("close_perp") - 1
    )
    assert j.height == 24
    assert 0.00028 < j.get_column("gap").min() < 0.00029  # type: ignore[operator]
    assert 0.00175 < j.get_column("gap").max() < 0.00176  # type: ignore[operator]
    at21 = j.filter(pl.col("ts_ms").dt.hour() == 21).row(0, named=True)
    assert (at21["close"], at21["close_perp"]) == (113451.86, 113253.6)
    # SOURCES.md §13: OHLC equals the Binance spot prices of the CoinGlass regime export on every common hour
    # (1,481 there, counting the source's in-progress 2026-04-04 00:00 bar that was dropped from this file)
    regime = parse(
        shared_data / "coinglass_btc_liquidation_lab" / "btc_regime_1h_20251204_20260602.csv.gz",
        "coinglass_btc_regime",
    )
    [cg_spot] = [r.frame for r in regime if r.record is CANDLES]
    both = f.join(cg_spot, on=["venue", "canonical", "interval_ms", "ts_ms"], suffix="_cg")
    assert both.height == 1_480
    for c in ("open", "high", "low", "close"):
        assert (both[c] == both[f"{c}_cg"]).all(), c
    # volume is in BTC: Σ(volume_base × (high+low+close)/3) per full day ÷ CoinGlass's Binance spot daily
    # volume_usd (coinglass_liquidity_report) has median 1.0001 (SOURCES.md §13) over its 358 days
    cg = pl.read_csv(
        shared_data / "coinglass_liquidity_report" / "binance_spot_price_1d_BTC_ETH_SOL_XRP.csv.gz"
    )
    daily = (
        f.group_by(day=pl.col("ts_ms").dt.date())
        .agg(
            usd=(pl.col("volume_base") * (pl.col("high") + pl.col("low") + pl.col("close")) / 3).sum(),
            n=pl.len(),
        )
        .filter(pl.col("n") == 24)
    )
    cg = cg.filter(pl.col("coin") == "BTC").with_columns(
        day=pl.from_epoch("time_ms", time_unit="ms").dt.date()
    )
    r = daily.join(cg, on="day").select(pl.col("usd") / pl.col("volume_usd")).to_series()
    assert r.len() == 358 and abs(r.median() - 1) < 2e-4  # type: ignore[operator]


@pytest.mark.shared
def test_jabine_sol(shared_data: Path) -> None:
    d = shared_data / "binance_um_sol_jabine9966"
    parts = {
        p.record.name: p for p in parse(d / "SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz", "jabine_sol_1h")
    }
    assert set(parts) == {"candles", "open_interest", "long_short_ratios", "taker_volume"}
    t0 = 1780239600000  # first line: ts 2026-05-31 15:00
    oi = parts["open_interest"].frame.row(0, named=True)
    assert (oi["oi_usd"], oi["oi_base"]) == (257766545.4815, None)
    assert int(oi["ts_ms"].timestamp() * 1000) == t0
    ratio = parts["long_short_ratios"].frame
    assert ratio.height == 624 and ratio.row(0, named=True)["ratio"] == 3.44
    assert set(ratio.get_column("kind")) == {"global_accounts"}
    assert parts["long_short_ratios"].record is LONG_SHORT_RATIOS
    # taker volume at ts covers the hour ENDING at ts: first line (ts 15:00) → bar 14:00
    tv = parts["taker_volume"].frame
    assert parts["taker_volume"].record is TAKER_VOLUME
    assert epoch(tv)[0] == t0 - H
    assert (tv.row(0, named=True)["buy_usd"], tv.row(0, named=True)["sell_usd"]) == (
        18859576.6544,
        24924624.4943,
    )
    # and so buy+sell matches the quote volume of the kline opening at the same ts_ms
    c = parts["candles"].frame.with_columns(qv=pl.col("volume_base") * (pl.col("open") + pl.col("close")) / 2)
    j = tv.join(c, on="ts_ms")
    assert (((j["buy_usd"] + j["sell_usd"]) / j["qv"] - 1).abs().median()) < 0.05  # type: ignore[operator]
    [fr] = parse(d / "SOLUSDT_funding_rate.csv.gz", "jabine_sol_funding")
    assert fr.frame.height == 78 and set(fr.frame.get_column("interval_ms")) == {8 * H}
    assert fr.frame.row(0, named=True)["rate"] == 3.80971947042e-05
