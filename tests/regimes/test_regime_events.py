"""The regime event-reading benchmark (``benchmarks/regime_events.py`` and its table): the table's recorded
numbers are facts of the data (so it cannot drift from ../shared/data), its split follows its stated rule,
and the scorer's matching logic gives what its definitions say on small hand-made label frames. The
engine's current readings are *not* asserted here: the benchmark measures them."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import polars as pl
import pytest
from benchmarks.regime_events import (
    FACTS_CONTEXT_DAYS,
    TABLE,
    Event,
    Expectation,
    event_facts,
    event_panel,
    load_events,
    score_expectation,
    verdict,
)

from perpscope.core.time import DAY_MS, HOUR_MS, parse_time_ms

TS = pl.Datetime("ms", "UTC")
STEP = 4 * HOUR_MS
T0 = parse_time_ms("2025-03-01")


def _labels(regimes: list[str], burst: list[bool] | None = None) -> pl.DataFrame:
    """A classify-shaped frame: one 4h bar per label from ``T0``."""
    n = len(regimes)
    return pl.DataFrame(
        {
            "ts_ms": [T0 + i * STEP for i in range(n)],
            "regime": regimes,
            "liq_burst_w": burst if burst is not None else [False] * n,
        }
    ).with_columns(pl.col("ts_ms").cast(TS))


def _exp(labels: tuple[str, ...], first_bar: int, bars: int, kind: str = "labels") -> Expectation:
    return Expectation(
        kind=kind, start_ms=T0 + first_bar * STEP, end_ms=T0 + (first_bar + bars) * STEP, labels=labels
    )


# --- the table ---------------------------------------------------------------------------------------------


def test_table_split_follows_its_stated_rule() -> None:
    events = load_events()
    assert len(events) >= 8
    # the rule the table states: sorted by start (then id), 1st, 3rd … tune; 2nd, 4th … holdout
    ordered = sorted(events, key=lambda e: (e.start_ms, e.id))
    assert [e.split for e in ordered] == ["tune" if i % 2 == 0 else "holdout" for i in range(len(ordered))]
    assert len({e.id for e in events}) == len(events)
    for e in events:
        assert e.start_ms < e.end_ms and e.expect and e.facts
        for x in e.expect:
            assert x.start_ms < x.end_ms
            # every expectation is dated inside the event's window
            assert e.start_ms <= x.start_ms and x.end_ms <= e.end_ms, (e.id, x)


def test_table_rejects_an_unknown_split_or_kind(tmp_path: Path) -> None:
    base = 'id = "x"\nsymbol = "BTCUSDT"\nstart = "2025-01-01"\nend = "2025-01-02"\n'
    bad_split = tmp_path / "a.toml"
    bad_split.write_text(f'[[event]]\n{base}split = "train"\n')
    with pytest.raises(ValueError, match="split"):
        load_events(bad_split)
    bad_kind = tmp_path / "b.toml"
    bad_kind.write_text(
        f'[[event]]\n{base}split = "tune"\n'
        '[[event.expect]]\nkind = "vibes"\nfrom = "2025-01-01"\nto = "2025-01-02"\n'
    )
    with pytest.raises(ValueError, match="kind"):
        load_events(bad_kind)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=2e-5, abs=1e-12)


@pytest.mark.shared
def test_recorded_facts_are_what_the_store_gives(shared_store: Path) -> None:
    from perpscope.store import Lake

    lake = Lake(shared_store)
    for ev in load_events():
        got = event_facts(event_panel(lake, ev, "4h", FACTS_CONTEXT_DAYS), ev)
        assert set(got) == set(ev.facts), ev.id
        off = {k: (ev.facts[k], got[k]) for k in got if not _same(ev.facts[k], got[k])}
        assert not off, (ev.id, off)


def _csv(path: Path) -> pl.DataFrame:
    with gzip.open(path) as fh:
        return pl.read_csv(fh.read())


@pytest.mark.shared
def test_recorded_prices_and_liquidations_match_the_raw_files(shared_data: Path) -> None:
    """Independent of the store: price changes from Binance's 4h klines (gravestone-data), liquidation
    totals from CoinGlass's Binance 4h export, for every event those files cover."""
    kl = _csv(
        shared_data / "binance_um_gravestone/klines_4h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20240228_20260319.csv.gz"
    )
    liq = _csv(shared_data / "coinglass_liquidity_report/liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz")
    liq_end = int(liq["time_ms"].max())  # type: ignore[arg-type]
    checked_px = checked_liq = 0
    for ev in load_events():
        k = kl.filter(pl.col("symbol") == ev.symbol)
        closes = dict(zip(k["timestamp"].to_list(), k["close"].to_list(), strict=True))
        before, last = ev.start_ms - STEP, ev.end_ms - STEP
        if before in closes and last in closes:
            assert closes[last] / closes[before] - 1 == pytest.approx(ev.facts["price_chg"], rel=1e-4), ev.id
            inside = k.filter(pl.col("timestamp").is_between(ev.start_ms, ev.end_ms - 1))
            assert float(inside["low"].min()) == pytest.approx(ev.facts["low"], rel=1e-5), ev.id  # type: ignore[arg-type]
            checked_px += 1
        coin = ev.symbol.removesuffix("USDT")
        if ev.start_ms >= int(liq["time_ms"].min()) and ev.end_ms - STEP <= liq_end:  # type: ignore[arg-type]
            w = liq.filter(
                (pl.col("coin") == coin) & pl.col("time_ms").is_between(ev.start_ms, ev.end_ms - 1)
            )
            assert float(w["long_liq_usd"].sum()) == pytest.approx(ev.facts["liq_long_usd"], rel=1e-4), ev.id
            assert float(w["short_liq_usd"].sum()) == pytest.approx(ev.facts["liq_short_usd"], rel=1e-4), (
                ev.id
            )
            checked_liq += 1
    assert checked_px >= 8 and checked_liq >= 8


# --- the scorer --------------------------------------------------------------------------------------------


def test_labels_hit_when_a_bar_in_the_window_carries_one() -> None:
    lab = _labels(["neutral", "new_shorts", "deleveraging_flush", "neutral"])
    state, why = score_expectation(lab, _exp(("deleveraging_flush", "latent_fragility"), 2, 1))
    assert state == "hit" and "1 bar(s)" in why


def test_labels_near_when_only_within_the_slack_and_miss_beyond() -> None:
    # the flush is on bar 8 (32 h after bar 0): expected on bars 1–2 (4–12 h)
    lab = _labels(["neutral"] * 8 + ["deleveraging_flush"] + ["neutral"] * 4)
    e = _exp(("deleveraging_flush",), 1, 2)  # [4 h, 12 h): the flush bar at 32 h is 20 h after it
    state, why = score_expectation(lab, e)
    assert state == "near" and "misdated" in why and "neutral×2" in why
    tight = Expectation(
        kind="labels", start_ms=e.start_ms, end_ms=e.end_ms, labels=e.labels, slack_ms=12 * HOUR_MS
    )
    state, why = score_expectation(lab, tight)
    assert state == "miss" and "got neutral×2" in why


def test_burst_reads_the_window_flag() -> None:
    lab = _labels(["neutral"] * 4, burst=[False, False, True, False])
    assert score_expectation(lab, _exp((), 2, 1, kind="burst"))[0] == "hit"
    assert score_expectation(lab, _exp((), 0, 1, kind="burst"))[0] == "near"  # 8 h before, within a day
    far = Expectation(kind="burst", start_ms=T0 - 3 * DAY_MS, end_ms=T0 - 2 * DAY_MS)
    assert score_expectation(lab, far) == ("miss", far.describe() + ": got no burst")


def test_treadmill_and_breaker_expectations() -> None:
    lab = _labels(["neutral"] * 3)
    cycles = pl.DataFrame({"flush_start_ms": [T0 + STEP], "treadmill": [False]}).with_columns(
        pl.col("flush_start_ms").cast(TS)
    )
    e = Expectation(kind="treadmill", start_ms=T0, end_ms=T0 + DAY_MS)
    assert score_expectation(lab, e, cycles=cycles)[0] == "hit"
    chained = Expectation(kind="treadmill", start_ms=T0, end_ms=T0 + DAY_MS, chain=True)
    assert score_expectation(lab, chained, cycles=cycles)[0] == "miss"  # one cycle is not a treadmill
    assert score_expectation(lab, e, cycles=cycles.clear())[0] == "miss"
    # present = false: the event is in no cycle, as the first flush or as the next one
    nxt = cycles.with_columns(
        pl.col("flush_start_ms").alias("next_flush_start_ms"),
        (pl.col("flush_start_ms") - pl.duration(days=5)).alias("flush_start_ms"),
    )
    none = Expectation(kind="treadmill", start_ms=T0, end_ms=T0 + DAY_MS, present=False)
    assert score_expectation(lab, none, cycles=nxt)[0] == "miss"  # a cycle closes inside the window
    assert score_expectation(lab, none, cycles=nxt.clear())[0] == "hit"
    no_chain = Expectation(kind="treadmill", start_ms=T0, end_ms=T0 + DAY_MS, present=False, chain=True)
    assert score_expectation(lab, no_chain, cycles=nxt)[0] == "hit"  # one cycle is no treadmill chain

    br = pl.DataFrame(
        {
            "check": ["volatility_regime", "spot_led_flow"],
            "engaged": [True, None],
            "evidence": ["vol ×2.1", "n/a"],
        }
    )
    vol = Expectation(kind="breaker", start_ms=T0, end_ms=T0 + DAY_MS, check="volatility_regime")
    flow = Expectation(kind="breaker", start_ms=T0, end_ms=T0 + DAY_MS, check="spot_led_flow")
    assert score_expectation(lab, vol, breakers=br) == ("hit", vol.describe() + ": engaged (vol ×2.1)")
    assert score_expectation(lab, flow, breakers=br)[0] == "miss"


def test_verdict_of_an_event() -> None:
    assert verdict(["hit", "hit"]) == "matched"
    assert verdict(["hit", "miss"]) == "partial"
    assert verdict(["near", "miss"]) == "partial"  # read but misdated
    assert verdict(["miss", "miss"]) == "missed"
    assert verdict([]) == "missed"


def test_facts_of_a_hand_made_panel() -> None:
    """The facts compare the window's last bar with the bar before it and sum liquidations inside it."""
    ts = [T0 + i * STEP for i in range(4)]
    panel = pl.DataFrame(
        {
            "ts_ms": ts,
            "close": [100.0, 90.0, 80.0, 85.0],
            "low": [99.0, 88.0, 79.0, 84.0],
            "high": [101.0, 100.0, 91.0, 86.0],
            "oi_usd": [1000.0, 900.0, 640.0, 680.0],
            "liq_long_usd": [1.0, 5.0, 7.0, None],
            "liq_short_usd": [0.0, 1.0, 2.0, 3.0],
            "funding_rate_8h": [None, None, None, None],
            "funding_sampled_8h": [1e-4, 5e-5, -2e-5, 1e-5],
        }
    ).with_columns(pl.col("ts_ms").cast(TS))
    ev = Event("x", "BTCUSDT", ts[1], ts[3] + STEP, "tune", ("4h",), {}, ())
    f = event_facts(panel, ev)
    assert f["price_chg"] == pytest.approx(-0.15) and f["low"] == 79.0 and f["high"] == 100.0
    assert f["oi_usd_chg"] == pytest.approx(-0.32)
    assert f["oi_coin_chg"] == pytest.approx((680 / 85) / (1000 / 100) - 1)
    assert f["liq_long_usd"] == 12.0 and f["liq_short_usd"] == 6.0
    assert f["funding_8h_before"] == 1e-4 and f["funding_8h_end"] == 1e-5


def test_the_table_is_beside_the_benchmark() -> None:
    assert TABLE.name == "regime_events.toml" and TABLE.exists()
