"""The regime engine over real events in ../shared/data. Each test first states what the data itself
says (price, OI, liquidation totals, funding sign, read from the stored records, not from the engine),
then checks that the engine reads it so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from perpscope.core.time import HOUR_MS, parse_time_ms
from perpscope.metrics import build_panel
from perpscope.regimes import circuit_breakers, classify, episodes, flow_hierarchy, reading, treadmill

pytestmark = pytest.mark.shared
Frames = Callable[[object, str, str], dict[str, pl.DataFrame]]


def _at(df: pl.DataFrame, when: str, col: str) -> float:
    return float(
        df.filter(pl.col("ts_ms") == pl.lit(parse_time_ms(when)).cast(pl.Datetime("ms", "UTC")))[col][0]
    )


def test_oct_10_2025_is_a_long_flush(btc_store: object, btc_frames: Frames) -> None:
    f = btc_frames(btc_store, "2025-08-01", "2025-11-01")
    # what the data says: Binance BTC OI snapshots (USD) 10-10 16:00 → 10-11 00:00, CoinGlass's liquidation
    # bar of 10-10 20:00 (SOURCES.md: long 235.6 M, short 107.5 M), and the klines' close
    oi, liq, c = f["open_interest"], f["liquidation_totals"], f["candles"]
    oi_drop = _at(oi, "2025-10-11T00:00", "oi_usd") / _at(oi, "2025-10-10T16:00", "oi_usd") - 1
    assert oi_drop < -0.20  # a fifth of Binance's BTC OI in USD gone in 8 hours
    assert _at(liq, "2025-10-10T20:00", "long_usd") == pytest.approx(235.6e6, rel=1e-3)
    assert _at(liq, "2025-10-10T20:00", "short_usd") == pytest.approx(107.5e6, rel=1e-3)
    assert _at(c, "2025-10-10T20:00", "close") / _at(c, "2025-10-09T20:00", "close") - 1 < -0.05

    panel = build_panel(4 * HOUR_MS, **f)
    lab = classify(panel)
    bar = lab.filter(
        pl.col("ts_ms") == pl.lit(parse_time_ms("2025-10-10T20:00")).cast(pl.Datetime("ms", "UTC"))
    ).row(0, named=True)
    assert bar["regime"] == "deleveraging_flush"
    assert bar["liq_burst_w"] is True
    assert "liq long $" in bar["evidence"] and "burst" in bar["evidence"]
    ep = episodes(lab).filter(pl.col("regime") == "deleveraging_flush")
    hit = ep.filter(
        (pl.col("start_ms") <= pl.lit(parse_time_ms("2025-10-10T20:00")).cast(pl.Datetime("ms", "UTC")))
        & (pl.col("end_ms") > pl.lit(parse_time_ms("2025-10-10T20:00")).cast(pl.Datetime("ms", "UTC")))
    )
    assert hit.height == 1
    assert hit["oi_chg_min"][0] < -0.15  # the OI fall the data shows, in coins
    # the flush closes a treadmill cycle in the seed's terms: the 7–8 Oct flush, leverage rebuilt on
    # the bounce (Binance OI back above half of what it lost), funding supportive again, then 10 Oct
    tm = treadmill(lab)
    oct10 = tm.filter(pl.col("next_flush_start_ms").dt.date() == pl.date(2025, 10, 10))
    assert oct10.height == 1
    assert oct10["rebuilt_share"][0] >= 0.5 and oct10["funding_max_8h"][0] >= 0.00005


def test_aug_2025_slide_reads_down_regimes(btc_store: object, btc_frames: Frames) -> None:
    f = btc_frames(btc_store, "2025-06-15", "2025-09-01")
    c = f["candles"]
    # what the data says: the ATH bar of 08-14 (124,545.6 high per SOURCES.md), a close 10% lower by 08-31,
    # and funding that kept paying longs (sampled Binance rate positive on most days of the slide)
    hi = c.filter(pl.col("ts_ms").dt.date() == pl.date(2025, 8, 14))["high"].max()
    assert hi == pytest.approx(124_545.6, abs=1)
    last_close = float(c.filter(pl.col("ts_ms").dt.date() == pl.date(2025, 8, 31))["close"][-1])
    assert last_close / float(hi) - 1 < -0.10  # type: ignore[arg-type]
    slide = f["funding"].filter(
        pl.col("ts_ms").dt.date().is_between(pl.date(2025, 8, 15), pl.date(2025, 8, 31))
    )
    assert (slide["rate"] > 0).mean() > 0.7  # type: ignore[operator]

    lab = classify(build_panel(4 * HOUR_MS, **f))
    s = lab.filter(pl.col("ts_ms").dt.date().is_between(pl.date(2025, 8, 15), pl.date(2025, 8, 31)))
    counts = dict(s.group_by("regime").len().iter_rows())
    down = sum(counts.get(k, 0) for k in ("deleveraging_flush", "new_shorts", "latent_fragility"))
    up = sum(counts.get(k, 0) for k in ("leverage_buildup", "short_covering"))
    assert down > 3 * up
    # price down while funding still pays longs: latent fragility is read on the slide
    assert counts.get("latent_fragility", 0) > 0


def test_aug_2024_crash_changes_the_volatility_regime(shared_data: Path, lake: object) -> None:
    from perpscope.ingest.importer import import_paths
    from perpscope.store.reader import read

    rep = import_paths(
        [shared_data / "binance_um_klines_leopoldlj/BTCUSDT_perp_1h_20191001_20260210.csv.gz"], lake
    )  # type: ignore[arg-type]
    assert not rep.failed
    c = read(
        lake,
        "candles",
        venue="binance",
        symbol="BTC-USDT-PERP",
        start_ms=parse_time_ms("2024-06-20"),
        end_ms=parse_time_ms("2024-08-06"),
    )  # type: ignore[arg-type]
    # what the data says: the 2024-08-05 low of 48,888 (SOURCES.md), down from ~70k at the end of July
    assert float(c["low"].min()) == pytest.approx(48_888, abs=1)  # type: ignore[arg-type]
    panel = build_panel(HOUR_MS, candles=c)
    cb = circuit_breakers(panel)
    vol = cb.filter(pl.col("check") == "volatility_regime").row(0, named=True)
    assert vol["engaged"] is True and vol["value"] >= 1.5
    # no OI, funding or liquidations in this slice: the labels say so rather than guess
    assert (classify(panel)["regime"] == "insufficient_data").all()


def test_flow_and_reading_on_real_data(btc_store: object, btc_frames: Frames) -> None:
    f = btc_frames(btc_store, "2025-09-01", "2025-11-14")
    panel = build_panel(4 * HOUR_MS, **f)
    # what the data says: Binance BTCUSDT spot traded far less than the perp over the period
    spot = f["taker_volume"].select((pl.col("buy_usd") + pl.col("sell_usd")).sum()).item()
    perp = f["candles"]["volume_quote"].sum()
    assert spot / perp < 0.2
    fh = flow_hierarchy(panel)
    assert fh["structural_imbalance"].drop_nulls().mean() > 0.9  # type: ignore[operator]
    assert fh["leader"].drop_nulls().len() > 0
    r = reading(panel)
    assert r.height == 1 and r["evidence"][0].startswith("over ")
