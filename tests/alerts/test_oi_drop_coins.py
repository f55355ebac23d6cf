"""``oi_drop`` reads open interest in coins (issue 18): on real Binance data (the bundled demo files:
4h ``openInterestHist`` snapshots and 1h klines, cut from gravestone-data, ``shared/data/SOURCES.md`` §2) a
price fall with the same coins open does not fire, and a real fall in coins does. The oracle is the
raw snapshot file, read here apart from the store."""

from __future__ import annotations

import polars as pl
import pytest

from perpscope.alerts import Rule, evaluate
from perpscope.assemble.panel import latest_panel
from perpscope.cli.alerts_cmd import HISTORY_MS
from perpscope.cli.demo import demo_data_dir
from perpscope.core.time import HOUR_MS, parse_time_ms
from perpscope.store import Lake

OI_4H = "open_interest_4h_BTC_ETH_SOL_XRP_BNB_DOGE_20260220_20260320.csv.gz"
KLINES_1H = "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20251201_20260319.csv.gz"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    from perpscope.ingest.importer import import_paths

    lk = Lake(tmp_path_factory.mktemp("oi") / "data")
    import_paths([demo_data_dir() / KLINES_1H, demo_data_dir() / OI_4H], lk)
    return lk


def _raw_change(symbol: str, at: str, hours: int) -> tuple[float, float]:
    """(coins, USD) change of the raw snapshots stamped ``at`` against ``hours`` before."""
    raw = pl.read_csv(demo_data_dir() / OI_4H).filter(pl.col("symbol") == symbol)
    t = parse_time_ms(at)
    now = raw.filter(pl.col("timestamp") == t).row(0, named=True)
    then = raw.filter(pl.col("timestamp") == t - hours * HOUR_MS).row(0, named=True)
    return (
        now["sum_open_interest"] / then["sum_open_interest"] - 1,
        now["sum_open_interest_value"] / then["sum_open_interest_value"] - 1,
    )


def _panel(lk: Lake, symbol: str, snapshot: str) -> pl.DataFrame:
    # the snapshot stamped `snapshot` is known at the end of the bar that closes there: check an hour on
    mp = latest_panel(lk, "binance", symbol, parse_time_ms(snapshot) + HOUR_MS, HISTORY_MS)
    return mp.panel.filter(pl.col("close").is_not_null())


def test_a_price_fall_with_the_same_coins_open_does_not_fire(lake: Lake) -> None:
    # ETHUSDT 2026-03-06 08:00 → 16:00 UTC: the price fell ~5 %, the ETH held in open positions did not
    coins, usd = _raw_change("ETHUSDT", "2026-03-06T16:00", 8)
    assert usd <= -0.05 and abs(coins) < 0.01  # the documented case: a USD-reading rule fired here
    p = _panel(lake, "ETHUSDT", "2026-03-06T16:00")
    rule = Rule("eth oi", "oi_drop", "binance", "ETHUSDT", {"window": "8h", "pct": 5})
    assert evaluate(rule, p) == []
    # what the rule measured is the coins' change, and it names both units
    seen = evaluate(Rule("eth oi", "oi_drop", "binance", "ETHUSDT", {"window": "8h", "pct": -100}), p)[0]
    assert seen.values["oi_coins_source"] == "oi_base"
    assert seen.values["oi_change"] == pytest.approx(coins, rel=1e-9)
    assert seen.values["oi_usd_change"] == pytest.approx(usd, rel=1e-9)
    assert "in coins" in seen.title and "in USD" in seen.text


def test_without_a_coin_figure_the_rule_derives_coins_from_usd_and_the_close(lake: Lake) -> None:
    # a venue that stores OI in USD only: coins = oi_usd / close (the USD figure is coins × mark price)
    p = _panel(lake, "ETHUSDT", "2026-03-06T16:00").drop("oi_base")
    coins, _ = _raw_change("ETHUSDT", "2026-03-06T16:00", 8)
    assert evaluate(Rule("o", "oi_drop", "binance", "ETHUSDT", {"window": "8h", "pct": 5}), p) == []
    seen = evaluate(Rule("o", "oi_drop", "binance", "ETHUSDT", {"window": "8h", "pct": -100}), p)[0]
    assert seen.values["oi_coins_source"] == "oi_usd / close"
    # close is not the mark price the venue valued the coins at: close to, not equal to, the coin change
    assert seen.values["oi_change"] == pytest.approx(coins, abs=0.005)


def test_a_real_fall_in_coins_fires(lake: Lake) -> None:
    # ETHUSDT 2026-03-18 12:00 → 20:00 UTC: 6 % of the ETH in open positions closed
    coins, usd = _raw_change("ETHUSDT", "2026-03-18T20:00", 8)
    assert coins <= -0.05
    p = _panel(lake, "ETHUSDT", "2026-03-18T20:00")
    hit = evaluate(Rule("eth oi", "oi_drop", "binance", "ETHUSDT", {"window": "8h", "pct": 5}), p)
    assert len(hit) == 1 and hit[0].values["oi_change"] == pytest.approx(coins, rel=1e-9)
    assert hit[0].values["oi_usd_change"] == pytest.approx(usd, rel=1e-9)
    assert f"{coins * 100:+.1f}% in coins over 8h" in hit[0].title
