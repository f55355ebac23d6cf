"""Each archive dataset parses to the right record, with values checked against the source rows.

Expected values come from the team's real data (``../shared/data``, via the ``shared_data`` fixture)
that the fixtures were built from (see tests/fixtures/archive/README.md), or are quoted from it in
comments where the test must also run without it.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
from archive_helpers import (
    DAY_MS,
    FIXTURES,
    KLINE_HEADER,
    KLINES_5M,
    METRICS_HEADER,
    SPOT,
    UM,
    copy_into,
    epoch_ms,
    ms,
    source_day,
    write_zip,
    zip_text,
)

from perpscope.records import (
    BOOK_DEPTH,
    CANDLES,
    FUNDING,
    LIQUIDATIONS,
    LONG_SHORT_RATIOS,
    OPEN_INTEREST,
    TRADES,
    RecordType,
)
from perpscope.venues.archive import FORMATS, METRICS_CREATE_TIME, format_for, parse_file
from perpscope.venues.base import Parsed, first_line

MIN5 = 300_000
KLINE_SRC = "binance_um_klines_leopoldlj"


def one(parsed: list[Parsed], record: RecordType) -> pl.DataFrame:
    frames = [p.frame for p in parsed if p.record is record]
    assert len(frames) == 1, [p.record.name for p in parsed]
    return frames[0]


def notes(parsed: list[Parsed]) -> str:
    return " | ".join(n for p in parsed for n in p.notes)


def assert_candles_match(frame: pl.DataFrame, src: pl.DataFrame, *, volumes: bool = True) -> None:
    assert frame.height == src.height
    assert epoch_ms(frame) == src["open_time_ms"].to_list()
    for ours, theirs in [("open", "open"), ("high", "high"), ("low", "low"), ("close", "close")]:
        assert frame[ours].to_list() == src[theirs].to_list()
    if volumes:
        pairs = [
            ("volume_base", "volume_base"),
            ("volume_quote", "volume_quote"),
            ("trades", "n_trades"),
            ("taker_buy_base", "taker_buy_base"),
            ("taker_buy_quote", "taker_buy_quote"),
        ]
        for ours, theirs in pairs:
            assert frame[ours].to_list() == src[theirs].to_list(), ours


# -- klines --------------------------------------------------------------------------------------------
def test_perp_klines_with_header_match_source(shared_data: Path) -> None:
    parsed = parse_file(KLINES_5M / "BTCUSDT-5m-2025-10-10.zip")
    c = one(parsed, CANDLES)
    src = source_day(
        shared_data / KLINE_SRC / "BTCUSDT_perp_5m_20251006_20251015.csv.gz", "open_time_ms", "2025-10-10"
    )
    assert_candles_match(c, src)
    assert set(c["market"]) == {"perp"} and set(c["price_type"]) == {"trade"}
    assert set(c["canonical"]) == {"BTC-USDT-PERP"} and set(c["symbol"]) == {"BTCUSDT"}
    assert set(c["venue"]) == {"binance"} and set(c["interval_ms"]) == {MIN5}


def test_perp_klines_first_bar_without_shared_data() -> None:
    # first row of BTCUSDT_perp_5m_20251006_20251015.csv.gz on 2025-10-10:
    # 1760054400000,1760054699999,121579.4,121690.0,121579.4,121630.1,286.181,34812181.1169,7947,161.152,...
    c = one(parse_file(KLINES_5M / "BTCUSDT-5m-2025-10-10.zip"), CANDLES)
    row = c.row(0, named=True)
    assert epoch_ms(c)[0] == 1760054400000
    assert (row["open"], row["high"], row["low"], row["close"]) == (121579.4, 121690.0, 121579.4, 121630.1)
    assert (row["volume_base"], row["trades"], row["taker_buy_base"]) == (286.181, 7947, 161.152)
    assert c.height == 288


def test_headerless_klines_match_source(shared_data: Path) -> None:
    path = UM / "daily/klines/BTCUSDT/1h/BTCUSDT-1h-2021-05-19.zip"
    assert not zip_text(path).startswith("open_time")  # the older layout: no header row
    c = one(parse_file(path), CANDLES)
    src = source_day(
        shared_data / KLINE_SRC / "BTCUSDT_perp_1h_20191001_20260210.csv.gz", "open_time_ms", "2021-05-19"
    )
    assert_candles_match(c, src)
    assert set(c["interval_ms"]) == {3_600_000}


def test_header_and_headerless_parse_the_same(tmp_path: Path) -> None:
    text = zip_text(KLINES_5M / "BTCUSDT-5m-2025-10-10.zip")
    body = text.split("\n", 1)[1]
    bare = write_zip(tmp_path / "data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2025-10-10.zip", body)
    a = one(parse_file(KLINES_5M / "BTCUSDT-5m-2025-10-10.zip"), CANDLES)
    b = one(parse_file(bare), CANDLES)
    assert a.equals(b)


def test_spot_klines_ms_and_microseconds(shared_data: Path) -> None:
    src_1h = shared_data / KLINE_SRC / "BTCUSDT_perp_1h_20191001_20260210.csv.gz"
    old = parse_file(SPOT / "daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-08-05.zip")
    new = parse_file(SPOT / "daily/klines/BTCUSDT/1h/BTCUSDT-1h-2025-10-10.zip")
    assert zip_text(SPOT / "daily/klines/BTCUSDT/1h/BTCUSDT-1h-2025-10-10.zip").startswith(
        "1760054400000000,"
    )
    for parsed, day in [(old, "2024-08-05"), (new, "2025-10-10")]:
        c = one(parsed, CANDLES)
        assert_candles_match(c, source_day(src_1h, "open_time_ms", day))
        assert set(c["market"]) == {"spot"} and set(c["canonical"]) == {"BTC-USDT-SPOT"}
        assert set(c["interval_ms"]) == {3_600_000}
    assert "microseconds" in notes(new) and "microseconds" not in notes(old)


@pytest.mark.parametrize(
    ("dataset", "price_type"),
    [("markPriceKlines", "mark"), ("indexPriceKlines", "index"), ("premiumIndexKlines", "premium")],
)
def test_mark_index_premium_come_from_the_folder(tmp_path: Path, dataset: str, price_type: str) -> None:
    # the same file bytes in another dataset folder: the file name cannot tell them apart
    p = copy_into(
        KLINES_5M / "BTCUSDT-5m-2025-10-10.zip", tmp_path / f"data/futures/um/daily/{dataset}/BTCUSDT/5m"
    )
    sniffed = [f.name for f in FORMATS if f.sniff(p, first_line(p))]
    assert sniffed == [format_for(dataset).name]
    c = one(format_for(dataset).parse(p), CANDLES)
    assert set(c["price_type"]) == {price_type}
    assert c["volume_base"].null_count() == c.height and c["trades"].null_count() == c.height
    assert c["open"][0] == 121579.4  # values pass through unchanged
    if price_type == "premium":
        assert "fractions" in notes(parse_file(p))


def test_explicit_dataset_overrides_the_path() -> None:
    p = KLINES_5M / "BTCUSDT-5m-2025-10-10.zip"
    c = one(parse_file(p, dataset="markPriceKlines"), CANDLES)
    assert set(c["price_type"]) == {"mark"}


def test_kline_file_outside_the_archive_layout(tmp_path: Path) -> None:
    p = copy_into(KLINES_5M / "BTCUSDT-5m-2025-10-10.zip", tmp_path / "downloads")
    assert [f.name for f in FORMATS if f.sniff(p, first_line(p))] == ["binance-archive-klines"]
    parsed = parse_file(p)
    assert set(one(parsed, CANDLES)["market"]) == {"perp"}
    assert "taken as perp" in notes(parsed)


# -- aggTrades -----------------------------------------------------------------------------------------
def force_orders(shared_data: Path) -> pl.DataFrame:
    """The unique BTC force orders of 2025-01-27 the aggTrades/liquidation fixtures were built from."""
    src = shared_data / "binance_force_orders" / "paulius_binance_forceorders_2025-01-26_2025-02-06.csv.gz"
    df = pl.read_csv(src)
    keys = [c for c in df.columns if c != "usd_size"]
    df = df.filter(pl.col("symbol") == "BTC").unique(subset=keys, maintain_order=True)
    start = ms("2025-01-27")
    return df.filter(pl.col("trade_time_ms").is_between(start, start + DAY_MS - 1)).sort("trade_time_ms")


def test_futures_agg_trades_match_source(shared_data: Path) -> None:
    t = one(parse_file(UM / "daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip"), TRADES)
    src = force_orders(shared_data)
    assert t.height == src.height == 31
    assert epoch_ms(t) == src["trade_time_ms"].to_list()
    assert t["price"].to_list() == src["avg_price"].to_list()
    assert t["qty_base"].to_list() == src["filled_accum_qty"].to_list()
    # a SELL liquidation order took liquidity from bids: buyer is maker, the taker sold
    assert t["taker_side"].to_list() == ["sell" if s == "SELL" else "buy" for s in src["side"]]
    assert set(t["market"]) == {"perp"} and set(t["canonical"]) == {"BTC-USDT-PERP"}
    assert t["trade_id"].to_list() == list(range(2_530_000_000, 2_530_000_031))


def test_spot_agg_trades_in_microseconds(shared_data: Path) -> None:
    path = SPOT / "daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip"
    assert zip_text(path).split("\n")[0].count(",") == 7  # 8 columns, no header, True/False
    parsed = parse_file(path)
    t = one(parsed, TRADES)
    src = force_orders(shared_data)
    assert epoch_ms(t) == src["trade_time_ms"].to_list()
    assert t["price"].to_list() == src["avg_price"].to_list()
    assert set(t["market"]) == {"spot"} and set(t["canonical"]) == {"BTC-USDT-SPOT"}
    assert "microseconds" in notes(parsed)


# -- fundingRate ---------------------------------------------------------------------------------------
def test_funding_matches_source_rounded_to_the_second(shared_data: Path) -> None:
    parsed = parse_file(UM / "monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-03.zip")
    f = one(parsed, FUNDING)
    src = pl.read_csv(
        shared_data / "binance_um_gravestone/funding_rate_all_usdtm_perps_20260112_20260320.csv.gz"
    )
    src = src.filter((pl.col("symbol") == "BTCUSDT") & (pl.col("timestamp") >= ms("2026-03-01"))).sort(
        "timestamp"
    )
    assert f.height == src.height == 58
    assert epoch_ms(f) == [round(t / 1000) * 1000 for t in src["timestamp"]]
    assert f["rate"].to_list() == src["funding_rate"].to_list()
    assert set(f["interval_ms"]) == {8 * 3_600_000}
    assert epoch_ms(f)[0] == 1772323200000  # source 1772323200005: stamped 5 ms late
    assert "rounded" in notes(parsed)


# -- metrics -------------------------------------------------------------------------------------------
def sol_source(shared_data: Path, day: str) -> pl.DataFrame:
    src = pl.read_csv(shared_data / "binance_um_sol_jabine9966/SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz")
    return src.filter(pl.col("time_utc").str.starts_with(day)).sort("ts")


@pytest.mark.parametrize(("day", "shift"), [("2026-06-24", 0), ("2026-06-26", MIN5)])
def test_metrics_cutoff_convention(shared_data: Path, day: str, shift: int) -> None:
    parsed = parse_file(UM / f"daily/metrics/SOLUSDT/SOLUSDT-metrics-{day}.zip")
    oi = one(parsed, OPEN_INTEREST)
    src = sol_source(shared_data, day)
    # before 2026-06-25 create_time is the END of the 5-minute period; from then on its START
    assert epoch_ms(oi) == [t + shift for t in src["ts"]]
    assert oi["oi_usd"].to_list() == src["open_interest_oi_value"].to_list()
    assert set(oi["interval_ms"]) == {MIN5} and set(oi["canonical"]) == {"SOL-USDT-PERP"}
    ls = one(parsed, LONG_SHORT_RATIOS)
    glob = ls.filter(pl.col("kind") == "global_accounts")
    assert glob["ratio"].to_list() == src["long_short_ratio_ratio"].to_list()
    assert epoch_ms(glob) == [t + shift for t in src["ts"]]
    taker = ls.filter(pl.col("kind") == "taker_volume")
    expected = (src["taker_volume_buyVol"] / src["taker_volume_sellVol"]).to_list()
    assert taker["ratio"].to_list() == pytest.approx(expected, rel=1e-15)
    assert set(ls["kind"]) == {"global_accounts", "taker_volume"}  # top-trader fields are empty
    assert ("START" if shift else "END") in notes(parsed)


def test_metrics_cutoff_applies_per_row(tmp_path: Path) -> None:
    # values from SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz (2026-06-24 23:00 and 2026-06-25 00:00)
    text = (
        METRICS_HEADER + "\n"
        "2026-06-24 23:55:00,SOLUSDT,3283975.4244,223561626.3953,,,2.81,0.9860936\n"
        "2026-06-25 00:00:00,SOLUSDT,3295149.7,222946190.4963,,,2.83,1.1470517\n"
    )
    p = write_zip(tmp_path / "data/futures/um/daily/metrics/SOLUSDT/SOLUSDT-metrics-2026-06-24.zip", text)
    oi = one(parse_file(p), OPEN_INTEREST)
    assert epoch_ms(oi) == [ms("2026-06-24T23:55:00"), ms("2026-06-25T00:05:00")]
    assert METRICS_CREATE_TIME[-1].effective_from == "2026-06-25"
    assert METRICS_CREATE_TIME[-1].marks == "start" and METRICS_CREATE_TIME[0].marks == "end"


def test_metrics_rows_out_of_order_are_sorted(tmp_path: Path) -> None:
    text = zip_text(UM / "daily/metrics/SOLUSDT/SOLUSDT-metrics-2026-06-24.zip")
    head, *rows = [line for line in text.split("\n") if line]
    random.Random(7).shuffle(rows)
    p = write_zip(
        tmp_path / "data/futures/um/daily/metrics/SOLUSDT/SOLUSDT-metrics-2026-06-24.zip",
        "\n".join([head, *rows]),
    )
    parsed = parse_file(p)
    ref = parse_file(UM / "daily/metrics/SOLUSDT/SOLUSDT-metrics-2026-06-24.zip")
    assert one(parsed, OPEN_INTEREST).equals(one(ref, OPEN_INTEREST))
    assert "sorted" in notes(parsed)


def test_daily_metrics_stamped_at_end_of_day(shared_data: Path) -> None:
    path = FIXTURES / "daily_metrics/metrics/BTCUSDT_metrics_daily_20220601_20230122.csv.gz"
    parsed = parse_file(path)
    src = pl.read_csv(
        shared_data / "binance_metrics_daily_dosh8/BTCUSDT_metrics_daily_20220601_20230122.csv.gz"
    )
    src = src.filter(pl.col("symbol").is_not_null())
    day0 = src["create_time"].str.to_date().cast(pl.Datetime("ms")).dt.epoch("ms")
    oi = one(parsed, OPEN_INTEREST)
    assert oi.height == src.height == 146
    assert epoch_ms(oi) == [d + DAY_MS for d in day0]  # a day's value is known when the day ends
    assert set(oi["interval_ms"]) == {DAY_MS}
    assert oi["oi_base"].to_list() == src["sum_open_interest"].to_list()
    assert oi["oi_usd"].to_list() == src["sum_open_interest_value"].to_list()
    ls = one(parsed, LONG_SHORT_RATIOS)
    kinds = {
        "top_accounts": "count_toptrader_long_short_ratio",
        "top_positions": "sum_toptrader_long_short_ratio",
        "global_accounts": "count_long_short_ratio",
        "taker_volume": "sum_taker_long_short_vol_ratio",
    }
    for kind, col in kinds.items():
        k = ls.filter(pl.col("kind") == kind)
        assert k["ratio"].to_list() == src[col].to_list(), kind
        assert epoch_ms(k) == epoch_ms(oi)
    top = ls.filter(pl.col("kind") == "top_accounts")
    assert top["long_share"].to_list() == pytest.approx([r / (1 + r) for r in top["ratio"]])
    assert "90 rows with only a create_time" in notes(parsed)


# -- liquidationSnapshot -------------------------------------------------------------------------------
def test_liquidations_side_is_the_positions(shared_data: Path) -> None:
    liq = one(
        parse_file(UM / "daily/liquidationSnapshot/BTCUSDT/BTCUSDT-liquidationSnapshot-2025-01-27.zip"),
        LIQUIDATIONS,
    )
    src = force_orders(shared_data)
    assert liq.height == src.height
    assert epoch_ms(liq) == src["trade_time_ms"].to_list()
    assert liq["side"].to_list() == ["long" if s == "SELL" else "short" for s in src["side"]]
    assert liq["price"].to_list() == src["avg_price"].to_list()
    assert liq["qty_base"].to_list() == src["filled_accum_qty"].to_list()
    # the recorder's usd_size is filled qty × order price; ours values the fill at its average price
    assert liq["notional_usd"].to_list() == pytest.approx(
        (src["filled_accum_qty"] * src["avg_price"]).to_list()
    )
    assert set(liq["canonical"]) == {"BTC-USDT-PERP"}


def test_liquidations_with_symbol_column_and_coinm(tmp_path: Path) -> None:
    # BTC force orders of 2025-01-27 (paulius recorder): 1737996728214 SELL 0.010 @ avg 99767.53
    head = "time,symbol,side,order_type,time_in_force,original_quantity,price,average_price,order_status,"
    head += "last_fill_quantity,accumulated_fill_quantity"
    text = f"{head}\n1737996728214,BTCUSDT,SELL,LIMIT,IOC,0.010,99392.55,99767.53,FILLED,0.002,0.010\n"
    p = write_zip(
        tmp_path
        / "data/futures/um/daily/liquidationSnapshot/BTCUSDT/BTCUSDT-liquidationSnapshot-2025-01-27.zip",
        text,
    )
    liq = one(parse_file(p), LIQUIDATIONS)
    assert liq.row(0, named=True)["side"] == "long" and liq["qty_base"][0] == 0.010
    # COIN-M: quantity in 100-USD contracts (BTC); 3 contracts at 99767.53
    cm = "1737996728214,SELL,LIMIT,IOC,3,99392.55,99767.53,FILLED,3,3\n"
    cm_dir = tmp_path / "data/futures/cm/daily/liquidationSnapshot/BTCUSD_PERP"
    p = write_zip(cm_dir / "BTCUSD_PERP-liquidationSnapshot-2025-01-27.zip", cm)
    liq = one(parse_file(p), LIQUIDATIONS)
    assert liq["notional_usd"][0] == 300.0
    assert liq["qty_base"][0] == pytest.approx(300.0 / 99767.53)
    assert liq["canonical"][0] == "BTC-USD-PERP"


# -- bookDepth -----------------------------------------------------------------------------------------
# No real bookDepth file is in ../shared/data; these rows are hand-written in the published layout
# (timestamp,percentage,depth,notional; see tests/fixtures/archive/README.md).
BOOK = (
    "2025-10-10 00:00:08,-2,1500.5,182000000.25\n"
    "2025-10-10 00:00:08,-1,700.25,85000000.5\n"
    "2025-10-10 00:00:08,1,650.75,79500000.0\n"
    "2025-10-10 00:00:08,2,1400.0,171000000.0\n"
    "2025-10-10 00:00:38,-1,710.0,86200000.0\n"
    "2025-10-10 00:00:38,1,640.5,78300000.0\n"
)


@pytest.mark.parametrize("header", [True, False])
def test_book_depth(tmp_path: Path, header: bool) -> None:
    text = ("timestamp,percentage,depth,notional\n" if header else "") + BOOK
    p = write_zip(tmp_path / "data/futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2025-10-10.zip", text)
    assert [f.name for f in FORMATS if f.sniff(p, first_line(p))] == ["binance-archive-book-depth"]
    b = one(parse_file(p), BOOK_DEPTH)
    assert b.height == 6
    assert epoch_ms(b)[:4] == [ms("2025-10-10T00:00:08")] * 4
    assert epoch_ms(b)[4] == ms("2025-10-10T00:00:38")
    assert b["band_pct"].to_list() == [-2.0, -1.0, 1.0, 2.0, -1.0, 1.0]
    assert b["depth_base"][0] == 1500.5 and b["notional_usd"][0] == 182000000.25


# -- sniffing ------------------------------------------------------------------------------------------
def test_every_fixture_is_sniffed_by_exactly_its_format() -> None:
    expected = {
        "klines": "binance-archive-klines",
        "aggTrades": "binance-archive-aggtrades",
        "fundingRate": "binance-archive-funding",
        "metrics": "binance-archive-metrics",
        "liquidationSnapshot": "binance-archive-liquidations",
    }
    files = [p for p in FIXTURES.rglob("*") if p.suffix in (".zip", ".gz")]
    assert len(files) == 14
    for p in files:
        ds = next(part for part in p.parts if part in expected)
        assert [f.name for f in FORMATS if f.sniff(p, first_line(p))] == [expected[ds]], p


def test_other_csvs_are_not_archive_files(shared_data: Path) -> None:
    for p in [
        shared_data / KLINE_SRC / "BTCUSDT_perp_5m_20251006_20251015.csv.gz",
        shared_data / "binance_force_orders/paulius_binance_forceorders_2025-01-26_2025-02-06.csv.gz",
        shared_data / "binance_um_gravestone/funding_rate_all_usdtm_perps_20260112_20260320.csv.gz",
    ]:
        assert not [f.name for f in FORMATS if f.sniff(p, first_line(p))], p


def test_kline_header_constant_is_the_published_one() -> None:
    assert zip_text(KLINES_5M / "BTCUSDT-5m-2025-10-10.zip").split("\n")[0] == KLINE_HEADER
