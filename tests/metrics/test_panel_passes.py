"""The panel's compiled passes (:mod:`perpscope.metrics.panel_passes`) against the polars forms they
replace: the same panel, bit for bit, on random records with gaps, nulls and both liquidation sources,
and on the store built from the whole shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import perpscope.metrics.panel as panel_mod
from perpscope.core.time import HOUR_MS, MINUTE_MS
from perpscope.metrics import PanelConfig, build_panel
from perpscope.records import CANDLES, LIQUIDATIONS
from perpscope.regimes import classify

T0 = 1_760_054_400_000  # 2025-10-10 00:00 UTC
M5 = 5 * MINUTE_MS
TS = pl.Datetime("ms", "UTC")
CFG = PanelConfig(burst_window_ms=2 * HOUR_MS, oi_change_windows_ms=(HOUR_MS, 7 * M5), min_samples=3)
#: The panel's compiled steps; each returns None to hand over to its polars form (the open-interest
#: check's flag alone, OI / volume from the grid sum, the bar grid from the sources' spans as arrays).
COMPILED = (
    "_flow_compiled",
    "_event_bars_compiled",
    "_bar_arrays",
    "inconsistent_flags",
    "_oi_to_volume_compiled",
    "_bar_spans",
)


def _polars_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in COMPILED:
        monkeypatch.setattr(panel_mod, name, lambda *a, **k: None)


def _records(seed: int, n_bars: int, with_events: bool, with_totals: bool) -> dict[str, pl.DataFrame]:
    """Two perps (one with spot) on 5m candles with missing bars and null taker volumes, liquidation
    events and/or 5m totals every third bar (a total with a null side), starting at different bars."""
    rng = np.random.default_rng(seed)
    cand, ev, tot = [], [], []
    for k, (base, spot) in enumerate((("BTC", True), ("ETH", False))):
        bars = np.sort(rng.choice(n_bars, max(2, n_bars - rng.integers(0, 6)), replace=False))
        ts = T0 + (bars + k * 3).astype(np.int64) * M5
        for market in ("perp", "spot") if spot else ("perp",):
            m = ts.size
            close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, m)))
            vol = rng.gamma(2.0, 5.0, m) * rng.integers(0, 2, m)  # some bars traded nothing
            buy = vol * close * rng.uniform(0, 1, m)
            cand.append(
                pl.DataFrame(
                    {
                        "venue": "binance",
                        "symbol": base + "USDT",
                        "canonical": f"{base}-USDT-{market.upper()}",
                        "market": market,
                        "price_type": "trade",
                        "interval_ms": M5,
                        "ts_ms": ts,
                        "open": close,
                        "high": close,
                        "low": close,
                        "close": close,
                        "volume_base": vol,
                        "volume_quote": vol * close,
                        "trades": 1,
                        "taker_buy_base": vol / 2,
                        "taker_buy_quote": pl.Series(buy).scatter(rng.integers(0, m, 3).tolist(), None),
                    }
                )
            )
        if with_events:
            e = int(rng.integers(1, 40))
            at = np.sort(T0 + rng.integers(n_bars // 3, n_bars, e) * M5 + rng.integers(0, M5, e))
            ev.append(
                pl.DataFrame(
                    {
                        "venue": "binance",
                        "symbol": base + "USDT",
                        "canonical": f"{base}-USDT-PERP",
                        "ts_ms": at,
                        "side": np.where(rng.random(e) < 0.5, "long", "short"),
                        "price": 100.0,
                        "qty_base": rng.gamma(1.0, 1.0, e) * rng.integers(0, 2, e),
                    }
                ).with_columns((pl.col("price") * pl.col("qty_base")).alias("notional_usd"))
            )
        if with_totals:
            q = np.arange(n_bars // 2, n_bars, 3)
            long_ = pl.Series(rng.gamma(1.0, 50.0, q.size) * rng.integers(0, 2, q.size))
            tot.append(
                pl.DataFrame(
                    {
                        "venue": "binance",
                        "symbol": base + "USDT",
                        "canonical": f"{base}-USDT-PERP",
                        "interval_ms": M5,
                        "ts_ms": T0 + q.astype(np.int64) * M5,
                        "long_usd": long_.scatter([int(rng.integers(0, q.size))], None),
                        "short_usd": rng.gamma(1.0, 50.0, q.size),
                    }
                )
            )
    # 5-minute open interest of both perps, with a gap, a zero (no change against it) and a null
    oi = []
    for base in ("BTC", "ETH"):
        q = np.sort(rng.choice(n_bars, max(2, n_bars - 3), replace=False))
        base_oi = pl.Series(rng.uniform(0, 100, q.size).round(0)).scatter(
            [int(rng.integers(0, q.size))], None
        )
        oi.append(
            pl.DataFrame(
                {
                    "venue": "binance",
                    "symbol": base + "USDT",
                    "canonical": f"{base}-USDT-PERP",
                    "interval_ms": M5,
                    "ts_ms": T0 + (q.astype(np.int64) + 1) * M5,
                    "oi_base": base_oi,
                    "oi_usd": base_oi * 100.0,
                }
            ).with_columns(pl.col("ts_ms").cast(TS))
        )
    out = {"candles": CANDLES.conform(pl.concat(cand)), "open_interest": pl.concat(oi)}
    if ev:
        out["liquidations"] = LIQUIDATIONS.conform(pl.concat(ev))
    if tot:
        # not conformed: the record forbids a null side, but build_panel takes any frame of its columns
        out["liquidation_totals"] = pl.concat(tot).with_columns(pl.col("ts_ms").cast(TS))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_bars=st.integers(4, 120),
    sources=st.sampled_from([(True, False), (False, True), (True, True)]),
    every=st.sampled_from([M5, 15 * MINUTE_MS]),
)
def test_compiled_passes_equal_the_polars_forms(
    monkeypatch: pytest.MonkeyPatch, seed: int, n_bars: int, sources: tuple[bool, bool], every: int
) -> None:
    rec = _records(seed, n_bars, *sources)
    got = build_panel(every, **rec, config=CFG)
    with monkeypatch.context() as m:
        _polars_only(m)
        want = build_panel(every, **rec, config=CFG)
    assert_frame_equal(got, want, check_exact=True)


def test_a_nan_in_the_inputs_hands_over_to_polars() -> None:
    rec = _records(3, 60, True, False)
    rec["candles"] = rec["candles"].with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(float("nan"))
        .otherwise(pl.col("taker_buy_quote"))
        .alias("taker_buy_quote")
    )
    p = build_panel(M5, **rec, config=CFG)
    # a NaN is not a missing value: the delta of its bar is NaN (not null) and so is every CVD after it
    nan_rows = p.filter(pl.col("taker_delta_usd").is_nan())
    assert nan_rows.height == 1
    after = p.filter(
        (pl.col("canonical") == nan_rows["canonical"][0]) & (pl.col("ts_ms") >= nan_rows["ts_ms"][0])
    )
    assert after.get_column("cvd_usd").is_nan().all()


@pytest.mark.shared
@pytest.mark.parametrize(("scope", "every"), [("binance", M5), ("all", M5), ("all", HOUR_MS)])
def test_compiled_passes_equal_the_polars_forms_on_the_shared_store(
    shared_store: Path, monkeypatch: pytest.MonkeyPatch, scope: str, every: int
) -> None:
    from perpscope.assemble.panel import market_panel
    from perpscope.store import Lake

    lk = Lake(shared_store)
    oct25 = (1_759_276_800_000, 1_761_955_200_000)  # October 2025, the month of the 10 Oct flush
    got = market_panel(lk, scope, "BTC", *oct25, every).panel
    with monkeypatch.context() as m:
        _polars_only(m)
        want = market_panel(lk, scope, "BTC", *oct25, every).panel
    assert_frame_equal(got, want, check_exact=True)
    # the store holds about 1.08 B USD of BTC perp liquidations that month, and taker flow on every bar
    assert got.get_column("liq_usd").sum() > 1e9
    assert got.get_column("cvd_usd").null_count() == 0
    labels = classify(got, evidence=False).get_column("regime")
    with monkeypatch.context() as m:
        _polars_only(m)
        assert labels.equals(classify(want, evidence=False).get_column("regime"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1), n_bars=st.integers(4, 150), every=st.sampled_from([M5, 15 * MINUTE_MS])
)
def test_funding_paid_scatter_equals_the_join_form(
    monkeypatch: pytest.MonkeyPatch, seed: int, n_bars: int, every: int
) -> None:
    """Funding paid and its USD flow written straight into the bars equal the join and fill they replace:
    settlements at random hours, some without an open-interest snapshot (null flow), some with a null
    rate (the bars after it unknown, so null, not 0), and a series whose first settlement comes late."""
    rng = np.random.default_rng(seed)
    rec = _records(seed, n_bars, False, False)
    rows = []
    for base in ("BTC", "ETH"):
        span = n_bars // 12 + 2  # hours the bars cover, and one more
        hours = np.sort(rng.choice(span, int(rng.integers(1, span + 1)), replace=False))
        rate = pl.Series(rng.normal(0, 1e-4, hours.size)).scatter(
            rng.integers(0, hours.size, 1).tolist(), None
        )
        rows.append(
            pl.DataFrame(
                {
                    "venue": "binance",
                    "symbol": base + "USDT",
                    "canonical": f"{base}-USDT-PERP",
                    "ts_ms": T0 + (hours + int(rng.integers(0, 2))) * HOUR_MS,
                    "rate": rate if rng.random() < 0.5 else rate.fill_null(1e-4),
                    "interval_ms": HOUR_MS,
                    "mark_price": 100.0,
                }
            )
        )
    rec["funding"] = pl.concat(rows).with_columns(pl.col("ts_ms").cast(TS))
    got = build_panel(every, **rec, config=CFG)
    assert "funding_paid" in got.columns and "funding_flow_usd" in got.columns
    with monkeypatch.context() as m:
        m.setattr(panel_mod, "_paid_in_bars", lambda *a, **k: None)
        want = build_panel(every, **rec, config=CFG)
    assert_frame_equal(got, want, check_exact=True)
