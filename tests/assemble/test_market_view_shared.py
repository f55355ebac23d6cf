"""The market view on the store a user actually has: everything in ``../shared/data`` imported the README
way (``perpscope import``), and the same files imported in the reverse order.

Expectations are stated from the data's own numbers first (the CSV files, read here with polars), then
compared with what perpscope reads from its store.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from perpscope.assemble.panel import market_panel
from perpscope.cli.main import app
from perpscope.core.time import HOUR_MS, interval_ms, parse_time_ms
from perpscope.records import RECORDS
from perpscope.store import Lake

pytestmark = [pytest.mark.shared, pytest.mark.slow]

#: The windows the issue names, with the bar length each is read at by default.
WINDOWS = [
    ("2025-10-01", "2025-10-20", "1h"),
    ("2025-08-01", "2025-09-01", "1h"),
    ("2024-11-21", "2025-11-14", "4h"),
    ("2026-05-25", "2026-06-22", "1h"),
]
SCOPES = ("binance", "all")


def _cli(data: Path, *args: str) -> str:
    r = CliRunner(env={"COLUMNS": "100"}).invoke(app, ["--data-dir", str(data), *args])
    assert r.exit_code == 0, r.output
    return r.stdout


def _raw(shared: Path, rel: str) -> pl.DataFrame:
    return pl.read_csv(shared / rel)


def test_import_order_gives_the_same_store(shared_store: Path, shared_store_reversed: Path) -> None:
    con = duckdb.connect()
    for rec in RECORDS:
        a, b = shared_store / rec, shared_store_reversed / rec
        assert a.is_dir() == b.is_dir(), rec
        if not a.is_dir():
            continue
        src = "read_parquet('{}/venue=*/symbol=*/*.parquet', hive_partitioning=false, union_by_name=true)"
        na = con.execute(f"SELECT count(*) FROM {src.format(a)}").fetchone()
        nb = con.execute(f"SELECT count(*) FROM {src.format(b)}").fetchone()
        assert na == nb, rec
        diff = con.execute(
            f"SELECT count(*) FROM (SELECT * FROM {src.format(a)} EXCEPT ALL SELECT * FROM {src.format(b)})"
        ).fetchone()
        assert diff == (0,), rec


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("start", "end", "every"), WINDOWS)
def test_metrics_name_their_sources_and_agree_across_import_orders(
    shared_store: Path, shared_store_reversed: Path, scope: str, start: str, end: str, every: str
) -> None:
    args = ["metrics", "BTCUSDT", "--venue", scope, "--from", start, "--to", end, "--every", every]
    a = json.loads(_cli(shared_store, *args, "--format", "json"))
    b = json.loads(_cli(shared_store_reversed, *args, "--format", "json"))
    assert a == b
    prov = a["provenance"]
    assert prov["scope"] == scope and prov["bar_ms"] == interval_ms(every)
    measures = {m["measure"]: m for m in prov["measures"]}
    assert measures["price"]["sources"], "the price names the stored series that fed it"
    for m in prov["measures"]:
        if not m["missing"]:
            assert m["sources"], m["measure"]
    assert len(a["rows"]) > 0
    table = _cli(shared_store, *args)
    assert "price: binance BTC-USDT-PERP" in table  # the footnote under the table


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("every", ["5m", "1h", "4h", "1d"])
def test_regimes_run_at_every_bar_length_over_a_mixed_store(
    shared_store: Path, scope: str, every: str
) -> None:
    """The issue's failing command: 5m klines cover only 6–15 Oct, hourly history covers the rest."""
    out = _cli(shared_store, "regimes", "BTCUSDT", "--venue", scope, "--from", "2025-09-01", "--to",
               "2025-11-14", "--every", every, "--format", "json", "--what", "bars")  # fmt: skip
    got = json.loads(out)
    assert got["rows"], "labels for the range"
    if every == "5m":
        assert any("not on the 5m grid" in n for n in got["provenance"]["notes"])


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("start", "end", "every"), WINDOWS)
def test_regimes_agree_across_import_orders(
    shared_store: Path, shared_store_reversed: Path, scope: str, start: str, end: str, every: str
) -> None:
    args = ["regimes", "BTCUSDT", "--venue", scope, "--from", start, "--to", end, "--every", every]
    assert _cli(shared_store, *args, "--format", "json") == _cli(
        shared_store_reversed, *args, "--format", "json"
    )


def test_binance_liquidations_of_10_october_reach_both_scopes(shared_store: Path, shared_data: Path) -> None:
    raw = _raw(shared_data, "coinglass_liquidity_report/liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz")
    bar = raw.filter((pl.col("coin") == "BTC") & (pl.col("time_utc") == "2025-10-10 20:00:00"))
    long_usd, short_usd = float(bar["long_liq_usd"][0]), float(bar["short_liq_usd"][0])
    assert round(long_usd / 1e6, 1) == 235.6 and round(short_usd / 1e6, 1) == 107.5  # the data's numbers
    lk = Lake(shared_store)
    t0 = parse_time_ms("2025-10-10T20:00")
    for scope in SCOPES:
        p4 = market_panel(
            lk, scope, "BTCUSDT", parse_time_ms("2025-10-01"), parse_time_ms("2025-10-20"), 4 * HOUR_MS
        )
        row = p4.panel.filter(pl.col("ts_ms").dt.epoch("ms") == t0)
        assert row["liq_long_usd"][0] == pytest.approx(long_usd)
        assert row["liq_short_usd"][0] == pytest.approx(short_usd)
        # at 1h the 4h total is known at its period's end: whole in the 23:00 bar, nothing counted twice
        p1 = market_panel(
            lk, scope, "BTCUSDT", parse_time_ms("2025-10-01"), parse_time_ms("2025-10-20"), HOUR_MS
        )
        four = p1.panel.filter(pl.col("ts_ms").dt.epoch("ms").is_between(t0, t0 + 4 * HOUR_MS - 1))
        assert four["liq_long_usd"].to_list()[:3] == [0.0, 0.0, 0.0]
        assert four["liq_long_usd"].sum() == pytest.approx(long_usd)
        liq = next(m for m in p1.provenance if m.measure == "liquidations")
        assert {p.venue for p in liq.parts} == {"binance"}  # the only series covering Oct 2025


def test_all_venue_open_interest_is_coinglass_aggregate_where_it_exists(
    shared_store: Path, shared_data: Path
) -> None:
    raw = _raw(
        shared_data,
        "coinglass_liquidity_report/open_interest_aggregated_all_exchanges_4h_BTC_ETH_SOL_XRP.csv.gz",
    )
    raw = raw.filter((pl.col("coin") == "BTC") & (pl.col("margin") == "all"))
    day = raw.filter(pl.col("time_utc").str.starts_with("2025-10-10"))
    # the data: all-exchange BTC OI falls from about 90 B to about 70 B USD on 10 Oct 2025
    assert day["close"][0] > 89e9 and day["close"][-1] < 71e9
    lk = Lake(shared_store)
    p = market_panel(
        lk, "all", "BTCUSDT", parse_time_ms("2025-10-01"), parse_time_ms("2025-10-20"), 4 * HOUR_MS
    )
    cg = day.select(
        pl.col("time_ms").cast(pl.Datetime("ms", "UTC")).alias("ts_ms"), pl.col("close").alias("cg")
    )
    got = p.panel.join(cg, on="ts_ms")
    assert got.height == 6
    # the CoinGlass bar's close, known at its end, is the OI of the perpscope bar that ends there
    assert got["oi_usd"].to_list() == pytest.approx(got["cg"].to_list())
    single = market_panel(
        lk, "binance", "BTCUSDT", parse_time_ms("2025-10-01"), parse_time_ms("2025-10-20"), 4 * HOUR_MS
    )
    both = single.panel.join(p.panel, on="ts_ms", suffix="_all").drop_nulls(["oi_usd", "oi_usd_all"])
    assert (both["oi_usd"] < both["oi_usd_all"]).all()  # Binance alone is part of the whole


def test_three_exchange_liquidations_serve_the_all_scope(shared_store: Path, shared_data: Path) -> None:
    lab = shared_data / "coinglass_btc_liquidation_lab"

    def hours(name: str, long_col: str) -> pl.DataFrame:
        """An export's long liquidations per whole hour (30-minute files: hours with both halves)."""
        f = pl.read_csv(next(lab.glob(name)))
        step = int(f["timestamp"].diff().drop_nulls().mode()[0])
        h = f.group_by(pl.col("timestamp") // HOUR_MS * HOUR_MS).agg(
            pl.col(long_col).sum(), pl.len().alias("n")
        )
        return h.filter(pl.col("n") * step == HOUR_MS).select(
            pl.col("timestamp").alias("h"), pl.col(long_col).alias("usd")
        )

    # the data: three CoinGlass exports of Binance+Bybit+OKX BTC long liquidations cover late May 2026
    agg30 = hours("btc_liquidations_agg_binance_bybit_okx_30m_*", "longUsd")
    reg30 = hours("btc_regime_30m_*", "liquidation_long_usd")
    reg1h = hours("btc_regime_1h_*", "liquidation_long_usd")
    lk = Lake(shared_store)
    lo, hi = parse_time_ms("2026-05-25"), parse_time_ms("2026-06-22")
    mp = market_panel(lk, "all", "BTCUSDT", lo, hi, HOUR_MS)
    got = mp.panel.select(
        pl.col("ts_ms").dt.epoch("ms").alias("h"), "liq_long_usd", "liq_partial"
    ).drop_nulls()
    assert got.height > 24 * 10
    # the 30-minute export ends at 15:00 on 8 June: that hour holds one half and says so
    last = got.filter(pl.col("h") == parse_time_ms("2026-06-08T15:00"))
    assert last["liq_partial"].to_list() == [True]
    got = got.filter(~pl.col("liq_partial"))
    # every hour is one export's figure for that hour (never a sum of two exports), 30-minute ones first
    both = got.join(agg30, on="h", how="left").join(reg30, on="h", how="left", suffix="_r30")
    both = both.join(reg1h, on="h", how="left", suffix="_r1h")
    match = [
        any(x is not None and abs(v - x) <= 1e-6 * max(1.0, abs(x)) for x in (a, b, c))
        for v, a, b, c in both.select("liq_long_usd", "usd", "usd_r30", "usd_r1h").iter_rows()
    ]
    assert all(match)
    only_1h = both.filter(
        pl.col("usd").is_null() & pl.col("usd_r30").is_null() & pl.col("usd_r1h").is_not_null()
    )
    assert only_1h["liq_long_usd"].to_list() == pytest.approx(only_1h["usd_r1h"].to_list())
    liq = next(m for m in mp.provenance if m.measure == "liquidations")
    assert {p.venue for p in liq.parts} == {"binance+bybit+okx"}
    # a one-venue scope never takes the three-exchange total
    one = market_panel(lk, "binance", "BTCUSDT", lo, hi, HOUR_MS)
    assert all(p.venue == "binance" for m in one.provenance for p in m.parts)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("start", "end"), [(w[0], w[1]) for w in WINDOWS if w[2] == "1h"])
def test_heatmap_and_cascade_run_on_the_mixed_store(
    shared_store: Path, shared_store_reversed: Path, tmp_path: Path, scope: str, start: str, end: str
) -> None:
    args = ["heatmap", "BTCUSDT", "--venue", scope, "--from", start, "--to", end]
    a = _cli(shared_store, *args, "--out", str(tmp_path / "a.html"))
    b = _cli(shared_store_reversed, *args, "--out", str(tmp_path / "b.html"))
    assert a.replace("a.html", "b.html") == b
    casc = ["cascade", "BTCUSDT", "--venue", scope, "--shock", "-3%", "--paths", "40", "--at", end]
    a = _cli(shared_store, *casc, "--out", str(tmp_path / "c.html"))
    b = _cli(shared_store_reversed, *casc, "--out", str(tmp_path / "c.html"))
    assert a == b and "shock" in a


def test_perp_spot_ratio_from_spot_klines_that_give_base_volume_only(
    shared_store: Path, shared_data: Path
) -> None:
    """The spot klines of SOURCES.md §13 carry base volume only; the panel values them at the bar's close.

    The data first: the 10 Oct 2025 20:00 UTC hour on Binance spot, its BTC volume × close, USD."""
    spot = _raw(shared_data, "binance_spot_klines_denniskid/BTCUSDT_spot_1h_20210403_20260403.csv.gz")
    hour = spot.filter(pl.col("timestamp") == "2025-10-10T20:00:00")
    assert hour.height == 1 and float(hour["volume"][0]) > 0
    spot_usd = float(hour["volume"][0]) * float(hour["close"][0])
    t0 = parse_time_ms("2025-10-10T20:00")
    p = market_panel(Lake(shared_store), "binance", "BTCUSDT", t0 - 6 * HOUR_MS, t0 + 6 * HOUR_MS, HOUR_MS)
    row = p.panel.filter(pl.col("ts_ms").dt.epoch("ms") == t0)
    assert row["spot_volume_usd"][0] == pytest.approx(spot_usd, rel=1e-9)
    assert row["perp_spot_ratio"][0] == pytest.approx(row["volume_usd"][0] / spot_usd, rel=1e-9)
    # a crash hour: perp volume several times spot's, as the flows reading of the day says (issue 19)
    assert row["perp_spot_ratio"][0] > 2


def test_regimes_read_their_look_back_from_before_the_range(shared_store: Path) -> None:
    """The engine's horizons (3 days) and burst baseline (30 days) look back: with the store holding that
    history, the range's first day is labelled from it, not ``insufficient_data``; the output and its
    provenance still start at --from."""
    args = ["regimes", "BTCUSDT", "--venue", "all", "--from", "2025-10-08", "--to", "2025-10-13"]
    got = json.loads(_cli(shared_store, *args, "--every", "4h", "--format", "json", "--what", "bars"))
    rows = got["rows"]
    first = min(r["ts_ms"] for r in rows)
    assert first == parse_time_ms("2025-10-08")  # nothing from the warm-up is listed
    assert got["provenance"]["start_ms"] == parse_time_ms("2025-10-08")
    day_one = [r for r in rows if r["ts_ms"] < parse_time_ms("2025-10-09")]
    assert day_one and all(r["regime"] != "insufficient_data" for r in day_one), day_one
