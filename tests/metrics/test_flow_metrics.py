"""Flow measures (ETF flows, stablecoin supply change, CME positioning, perp/spot volume, flow evidence,
book depth) checked against the shared data's own numbers first, then what perpscope reads.

The real series are imported from ``../shared/data`` into a store of this module (skipped when absent);
book depth has no real file in the shared data, so its rows are hand-written in the bookDepth layout.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from tests.conftest import shared_data_dir

from perpscope.ingest.importer import import_paths
from perpscope.metrics.depth import depth_bands
from perpscope.metrics.flow_evidence import flow_evidence, perp_spot_daily
from perpscope.metrics.flows import cme_positioning, etf_flows, stablecoin_change
from perpscope.store import Lake
from perpscope.store.reader import read

H = 3_600_000
DAY = 24 * H
FILES = [
    "farside_btc_etf_haturatu",
    "defillama_stablecoins_ssalonisingghal",
    "cftc_tff_bitcoin_cotflow",
    "binance_spot_klines_denniskid",
    "binance_um_klines_leopoldlj/BTCUSDT_perp_1h_20191001_20260210.csv.gz",
]


def t(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def on(df: pl.DataFrame, day: str, col: str = "ts_ms") -> dict[str, object]:
    rows = df.filter(pl.col(col).dt.epoch("ms") == t(day))
    assert rows.height == 1, (day, rows)
    return rows.row(0, named=True)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data (the team's real market data) is not beside this checkout")
    lk = Lake(tmp_path_factory.mktemp("flows") / "data")
    report = import_paths([shared / f for f in FILES], lk)
    assert not report.failed, [f.error for f in report.failed]
    return lk


@pytest.fixture(scope="module")
def candles(lake: Lake) -> pl.DataFrame:
    w = {"interval_ms": H, "price_type": "trade"}
    return pl.concat(
        [
            read(lake, "candles", venue="binance", symbol=s, where=w)
            for s in ("BTC-USDT-PERP", "BTC-USDT-SPOT")
        ],
        how="diagonal_relaxed",
    )


@pytest.fixture(scope="module")
def etf(lake: Lake, candles: pl.DataFrame) -> pl.DataFrame:
    flows = read(lake, "fund_flows", venue="us_spot_etf", symbol="BTC-USD-SPOT")
    return etf_flows(flows, candles.filter(pl.col("canonical") == "BTC-USDT-SPOT"))


def farside(shared: Path) -> pl.DataFrame:
    [f] = (shared / "farside_btc_etf_haturatu").glob("*.csv.gz")
    raw = pl.read_csv(f, infer_schema_length=0)
    return raw.with_columns(pl.col("Date").str.to_date("%d %b %Y"), pl.col("Total").cast(pl.Float64))


def test_etf_daily_and_five_session_flows(etf: pl.DataFrame) -> None:
    raw = farside(shared_data_dir())  # type: ignore[arg-type]
    total = dict(zip(raw["Date"].cast(pl.String), raw["Total"], strict=True))
    # the data's facts (SOURCES.md §10): US$m totals
    assert (total["2024-08-05"], total["2025-10-13"]) == (-168.4, -326.4)
    assert on(etf, "2024-08-05")["flow_usd"] == pytest.approx(-168.4e6)
    assert on(etf, "2025-10-13")["flow_usd"] == pytest.approx(-326.4e6)
    # five sessions ending 2024-07-08 reach back over the 4 July holiday (a row with Total 0.0 in the
    # file, not a session): 1, 2, 3, 5 and 8 July
    five = sum(total[d] for d in ("2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"))
    assert on(etf, "2024-07-08")["flow_5d_usd"] == pytest.approx(five * 1e6)
    assert etf.filter(pl.col("ts_ms").dt.epoch("ms") == t("2024-07-04")).height == 0
    # known at the session close: 16:00 New York (20:00 UTC in summer), 13:00 on the early close of 3 July
    assert on(etf, "2024-08-05")["known_ms"] == datetime(2024, 8, 5, 20, tzinfo=UTC)
    assert on(etf, "2024-07-03")["known_ms"] == datetime(2024, 7, 3, 17, tzinfo=UTC)


def test_etf_flow_in_btc_at_the_days_close(etf: pl.DataFrame, candles: pl.DataFrame) -> None:
    # the Binance spot close of the hour ending at the 2024-08-05 session close (20:00 UTC): the 19:00 bar
    spot = candles.filter(pl.col("canonical") == "BTC-USDT-SPOT")
    close = on(spot, "2024-08-05T19:00")["close"]
    row = on(etf, "2024-08-05")
    assert row["price_usd"] == close
    assert row["flow_base"] == pytest.approx(-168.4e6 / close)  # type: ignore[operator]


def test_a_missing_session_is_a_gap_not_a_zero() -> None:
    days = ["2024-08-01", "2024-08-02", "2024-08-06", "2024-08-07", "2024-08-08", "2024-08-09", "2024-08-12"]
    flows = pl.DataFrame(
        {
            "symbol": ["TOTAL"] * len(days),
            "ts_ms": [t(d) for d in days],
            "flow_usd": [1e6] * len(days),
        }
    ).with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))
    out = etf_flows(flows)
    # 2024-08-05 is a session without a figure: a gap, and every 5-session sum that includes it is null
    assert on(out, "2024-08-05")["flow_usd"] is None
    assert [on(out, d)["flow_5d_usd"] for d in ("2024-08-08", "2024-08-09", "2024-08-12")] == [
        None,
        None,
        5e6,
    ]


def test_stablecoin_supply_change(lake: Lake) -> None:
    shared = shared_data_dir()
    assert shared is not None
    [f] = (shared / "defillama_stablecoins_ssalonisingghal").glob("usdt_*.csv.gz")
    raw = pl.read_csv(f).with_columns(pl.col("date").str.to_date())
    sup = dict(zip(raw["date"].cast(pl.String), raw["supply"], strict=True))
    supply = pl.concat(
        [
            read(lake, "stablecoin_supply", venue="all_chains", symbol=s)
            for s in ("USDT-USD-SPOT", "USDC-USD-SPOT")
        ]
    )
    out = stablecoin_change(supply)
    usdt = on(out.filter(pl.col("symbol") == "USDT"), "2025-10-10")
    assert usdt["change_7d_usd"] == pytest.approx(sup["2025-10-10"] - sup["2025-10-03"])
    assert usdt["change_30d"] == pytest.approx(sup["2025-10-10"] / sup["2025-09-10"] - 1)
    # all coins: USDT 177.42 B + USDC 75.33 B on 2025-10-10 (SOURCES.md §11)
    assert on(out.filter(pl.col("symbol") == "ALL"), "2025-10-10")["supply_usd"] == pytest.approx(
        252.75e9, rel=1e-4
    )


def test_cme_leveraged_funds_net_short_through_mid_2024(lake: Lake) -> None:
    shared = shared_data_dir()
    assert shared is not None
    [f] = (shared / "cftc_tff_bitcoin_cotflow").glob("*.csv.gz")
    raw = pl.read_csv(f).filter(pl.col("date").str.starts_with("2024-0"))
    # the data: leveraged funds net short in every report of Jan–Sep 2024, asset managers net long
    assert ((raw["lev_long"] - raw["lev_short"]) < 0).all()
    assert ((raw["am_long"] - raw["am_short"]) > 0).all()
    cme = cme_positioning(read(lake, "futures_positioning", venue="cme", symbol="BTC-AGG-PERP"))
    mid = cme.filter(pl.col("ts_ms").dt.year() == 2024, pl.col("ts_ms").dt.month() <= 9)
    assert mid.height == raw.height
    assert mid["basis_trade"].all()
    assert (mid["lev_net_base"] == (raw["lev_long"] - raw["lev_short"]) * 5).all()
    # 2025-10-07 report (released Friday 10 Oct): oi 31,223 contracts = 156,115 BTC
    oct7 = on(cme, "2025-10-10T21:00")
    assert oct7["oi_base"] == 31223 * 5 and oct7["lev_net_base"] == (3221 - 17275) * 5


def test_perp_and_spot_volume_on_2025_10_10(candles: pl.DataFrame) -> None:
    shared = shared_data_dir()
    assert shared is not None
    [perp_f] = (shared / "binance_um_klines_leopoldlj").glob("BTCUSDT_perp_1h_*.csv.gz")
    [spot_f] = (shared / "binance_spot_klines_denniskid").glob("*.csv.gz")
    perp = pl.read_csv(perp_f).filter(pl.col("open_time_ms").is_between(t("2025-10-10"), t("2025-10-11") - 1))
    spot = pl.read_csv(spot_f).filter(pl.col("timestamp").str.starts_with("2025-10-10"))
    assert perp.height == spot.height == 24
    perp_btc, spot_btc = perp["volume_base"].sum(), spot["volume"].sum()
    # the data: on the crash day Binance perps traded several times the spot volume, in BTC
    assert perp_btc / spot_btc > 5
    ratio = perp_spot_daily(candles)
    day = on(ratio, "2025-10-10T23:00")  # the 24 h ending 2025-10-11 00:00
    assert day["perp_volume_base"] == pytest.approx(perp_btc)
    assert day["spot_volume_base"] == pytest.approx(spot_btc)
    assert day["perp_spot_ratio"] == pytest.approx(perp_btc / spot_btc)
    assert day["structural_imbalance"] == (spot_btc / perp_btc < 0.2)


def test_flow_evidence_uses_only_what_was_public(
    lake: Lake, etf: pl.DataFrame, candles: pl.DataFrame
) -> None:
    supply = pl.concat(
        [
            read(lake, "stablecoin_supply", venue="all_chains", symbol=s)
            for s in ("USDT-USD-SPOT", "USDC-USD-SPOT")
        ]
    )
    kw = {
        "etf": etf,
        "stablecoins": stablecoin_change(supply),
        "perp_spot": perp_spot_daily(candles),
        "cme": cme_positioning(read(lake, "futures_positioning", venue="cme", symbol="BTC-AGG-PERP")),
    }
    # before the 2024-08-05 close the day's ETF flow is not known: the sum ends on Friday 2 August
    before = flow_evidence(t("2024-08-05T19:59"), **kw)
    after = flow_evidence(t("2024-08-05T20:00"), **kw)
    assert before.etf_day_ms == t("2024-08-02") and after.etf_day_ms == t("2024-08-05")
    assert after.etf_5d_usd == pytest.approx(on(etf, "2024-08-05")["flow_5d_usd"])
    # the CME report as of Tuesday 30 July 2024 is not public until Friday 2 August 21:00 UTC
    assert before.cme_release_ms == t("2024-08-02T21:00")
    assert flow_evidence(t("2024-08-02T20:59"), **kw).cme_release_ms == t("2024-07-26T21:00")
    assert before.missing == () and "ETF" in before.text()
    # inputs not given are named, not read as neutral
    alone = flow_evidence(t("2025-10-10T21:00"), etf=etf)
    assert alone.etf_5d_usd is not None
    assert alone.missing == (
        "stablecoin supply (no data)",
        "perp/spot volume (no data)",
        "CME positioning (no data)",
    )
    assert "missing: stablecoin supply" in alone.text()
    # stale inputs are named with their age (January–February 2026 are withheld from the shared data)
    stale = flow_evidence(t("2026-03-01"), **kw)
    assert stale.etf_5d_usd is None and any(m.startswith("ETF flows (last 2025-12-31") for m in stale.missing)


def test_depth_bands_from_bookdepth_rows() -> None:
    # hand-written rows in Binance's bookDepth layout (no real bookDepth file is in the shared data):
    # cumulative notional from mid to ±1/2/5%, two snapshots 60 s apart
    rows = []
    for ts, scale in ((t("2025-10-10T21:00"), 1.0), (t("2025-10-10T21:01"), 0.5)):
        for band, usd in ((-1, 100e6), (1, 80e6), (-2, 180e6), (2, 150e6), (-5, 400e6), (5, 390e6)):
            bid = band < 0
            rows.append(
                {
                    "venue": "binance",
                    "canonical": "BTC-USDT-PERP",
                    "ts_ms": ts,
                    "band_pct": float(band),
                    "notional_usd": usd * (scale if bid else 1.0),
                }
            )
    df = pl.DataFrame(rows).with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))
    out = depth_bands(df, change_ms=60_000)
    first, second = out.row(0, named=True), out.row(1, named=True)
    assert (first["bid_1pct_usd"], first["ask_1pct_usd"], first["depth_1pct_usd"]) == (100e6, 80e6, 180e6)
    assert first["bid_share_5pct"] == pytest.approx(400 / 790)
    assert first["depth_1pct_change"] is None  # nothing 60 s before the first snapshot
    # bids halved a minute later: bid change −50%, both sides (50 + 80) / (100 + 80) − 1
    assert second["bid_1pct_change"] == pytest.approx(-0.5)
    assert second["depth_1pct_change"] == pytest.approx(130 / 180 - 1)
