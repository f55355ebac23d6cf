"""The models on real Binance data: inputs, runs, maps, zones, ensemble."""

from __future__ import annotations

import itertools
from dataclasses import fields, replace

import numpy as np
import polars as pl
import pytest

from perpscope.heatmap import (
    DEFAULT_MODEL,
    MIXES,
    OIChangeModel,
    TradeFlowModel,
    ensemble_members,
    hot_zones,
    liquidation_map,
    model_inputs,
    run_ensemble,
    run_model,
)
from perpscope.heatmap.inputs import HeatmapInputError
from perpscope.heatmap.kernel import KernelOut
from perpscope.heatmap.models import LeverageMix, entry_prices, leverage_runs, long_share


@pytest.fixture(scope="module")
def sol_bars(sol_1h: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return model_inputs(
        sol_1h["candles"],
        sol_1h["open_interest"],
        sol_1h["funding"],
        sol_1h["long_short_ratios"],
        sol_1h["taker_volume"],
    )


def test_inputs_are_point_in_time_and_complete(sol_bars: pl.DataFrame) -> None:
    assert sol_bars.height == 624 and sol_bars.get_column("ts_ms").is_sorted()
    assert sol_bars.get_column("oi_usd").null_count() <= 1
    assert sol_bars.get_column("ls_long_share").drop_nulls().is_between(0, 1).all()
    # a funding settlement at 16:00 is first seen by the bar that ends at 16:00 (opens 15:00)
    first_f = sol_bars.filter(pl.col("funding_8h").is_not_null()).get_column("ts_ms")[0]
    assert first_f.hour == 15


def test_rules(sol_bars: pl.DataFrame) -> None:
    e = entry_prices(sol_bars, "vwap")
    assert ((e >= sol_bars["low"].to_numpy()) & (e <= sol_bars["high"].to_numpy())).all()
    for rule in ("taker", "ratio", "funding", "even"):
        s = long_share(sol_bars, rule)  # type: ignore[arg-type]
        assert ((s >= 0) & (s <= 1)).all()
    assert np.allclose(long_share(sol_bars, "even"), 0.5)


def test_oi_change_run_conserves_and_consumes(sol_bars: pl.DataFrame) -> None:
    run = run_model(OIChangeModel(), sol_bars)
    o = run.out
    assert o.consumed_long.sum() > 0 and o.consumed_short.sum() > 0
    # conservation: what opened = consumed + removed + left on the books. What opened, computed here
    # apart: per 4-hour UTC window, the net rise of open interest (USD at each observation's close, in
    # base units) spread over the window's bars by quote volume (even when there is none), at each bar's
    # typical price (h + l + c) / 3
    b = sol_bars.with_columns(
        (pl.col("oi_usd") / pl.col("close")).alias("oi"),
        ((pl.col("high") + pl.col("low") + pl.col("close")) / 3).alias("typ"),
        (pl.col("ts_ms").dt.epoch("ms") // (4 * 3_600_000)).alias("w"),
        pl.col("volume_quote").fill_null(0.0).alias("vq"),
    )
    b = b.with_columns(
        pl.when(pl.col("vq").sum().over("w") > 0)
        .then(pl.col("vq") / pl.col("vq").sum().over("w"))
        .otherwise(1.0 / pl.len().over("w"))
        .alias("wgt")
    )
    per_w = b.group_by("w", maintain_order=True).agg(
        pl.col("oi").last(), (pl.col("wgt") * pl.col("typ")).sum().alias("entry")
    )
    d = per_w["oi"].diff().to_numpy()
    added = np.nansum(np.where(d > 0, d, 0.0) * per_w["entry"].to_numpy())
    assert added > 0
    gone = o.consumed_long.sum() + o.consumed_short.sum() + o.removed.sum()
    assert added == pytest.approx(gone + o.final_long.sum() + o.final_short.sum(), rel=1e-9)
    oi = b["oi"].to_numpy()
    grid = run.grid_frame()
    assert grid.columns == ["ts_ms", "price_lo", "price_hi", "long_usd", "short_usd"]
    assert (grid["price_hi"] > grid["price_lo"]).all()
    assert np.isfinite(oi[1:]).all()
    m = liquidation_map(run)
    assert m["long_usd"].sum() == pytest.approx(o.final_long.sum())


def test_reference_engine_gives_the_same_run(sol_bars: pl.DataFrame) -> None:
    a = run_model(DEFAULT_MODEL, sol_bars, engine="numba")
    b = run_model(DEFAULT_MODEL, sol_bars, grid=a.grid, engine="reference")
    np.testing.assert_allclose(a.out.final_long, b.out.final_long, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(a.out.consumed_short, b.out.consumed_short, rtol=1e-9, atol=1e-6)


def test_leverage_runs_are_one_run_per_leverage(sol_bars: pl.DataFrame) -> None:
    """The cascade's books read each leverage alone: the shared-work runs (one preparation per model but
    its mix, shared across the ensemble's members) must be bit-identical to one ``run_model`` per
    one-leverage model, for every member, keeping only the last bar's book or every default snapshot."""
    members = ensemble_members(DEFAULT_MODEL, bars=sol_bars)
    grid = run_model(DEFAULT_MODEL, sol_bars).grid
    prepared: dict = {}
    last_only = np.empty(0, dtype=np.int64)
    for m in members:
        for at in (last_only, None):
            runs = leverage_runs(m, sol_bars, grid=grid, snapshot_at=at, prepared=prepared)
            assert len(runs) == len(m.mix.leverages)
            for lev, run in zip(m.mix.leverages, runs, strict=True):
                one = replace(m, mix=LeverageMix(f"{m.mix.name}@{lev:g}x", (float(lev),), (1.0,)))
                ref = run_model(one, sol_bars, grid=grid, snapshot_at=at)
                assert run.model == one
                np.testing.assert_array_equal(run.snapshot_ts_ms, ref.snapshot_ts_ms)
                for f in fields(KernelOut):
                    np.testing.assert_array_equal(getattr(run.out, f.name), getattr(ref.out, f.name))
    # one preparation per (entry rule, side rule): the mixes share it
    assert len(prepared) == len({(m.entry_rule, m.side_rule) for m in members}) < len(members)


def test_liquidation_map_cumulates_outward(sol_bars: pl.DataFrame) -> None:
    run = run_model(OIChangeModel(side_rule="ratio"), sol_bars)
    m = liquidation_map(run)
    below = m.filter(pl.col("price_mid") <= run.last_close).sort("price_mid", descending=True)
    above = m.filter(pl.col("price_mid") > run.last_close).sort("price_mid")
    assert below["cum_long_usd"].is_sorted() and above["cum_short_usd"].is_sorted()
    assert below["cum_long_usd"][-1] == pytest.approx(below["long_usd"].sum())


def test_hot_zones_are_disjoint_sorted_and_on_their_side(sol_bars: pl.DataFrame) -> None:
    run = run_model(OIChangeModel(mix=MIXES["high"]), sol_bars)
    z = hot_zones(run, k=4, width_pct=1.0)
    assert set(z["side"]) <= {"long", "short"}
    for side in ("long", "short"):
        s = z.filter(pl.col("side") == side)
        assert s["usd"].is_sorted(descending=True) and s["rank"].to_list() == list(range(1, s.height + 1))
        iv = sorted(zip(s["price_lo"], s["price_hi"], strict=True))
        assert all(a[1] <= b[0] + 1e-9 for a, b in itertools.pairwise(iv))
    assert (z.filter(pl.col("side") == "long")["distance_pct"] <= 0.5).all()
    assert (z.filter(pl.col("side") == "short")["distance_pct"] >= -0.5).all()


def test_ensemble_bands_hold_the_median(sol_bars: pl.DataFrame) -> None:
    members = ensemble_members(OIChangeModel(), bars=sol_bars)
    # every side rule's input is present (taker from the taker-volume records); no quote volume → no vwap
    assert len(members) == 3 * 4 * 1
    ens = run_ensemble(members, sol_bars)
    assert (ens.long_q[0] <= ens.long_q[1] + 1e-9).all() and (ens.long_q[1] <= ens.long_q[2] + 1e-9).all()
    z = hot_zones(ens, k=3)
    assert (z["usd_p10"] <= z["usd_p90"]).all()
    assert ens.median_grid_frame().height > 0
    assert {"long_p10", "short_p90"} <= set(liquidation_map(ens).columns)


def test_trade_flow_runs_without_open_interest(btc_5m: pl.DataFrame) -> None:
    bars = model_inputs(btc_5m)
    with pytest.raises(HeatmapInputError, match="no open interest"):
        run_model(OIChangeModel(), bars)
    run = run_model(TradeFlowModel(), bars)
    # the 10 Oct 2025 crash (21:00 UTC bar low 101,516.5 on Binance perp) must liquidate longs
    pred = run.predicted_liquidations()
    crash = pred.filter(pl.col("ts_ms").dt.strftime("%Y-%m-%d %H") == "2025-10-10 21")
    assert crash["long_usd"].sum() > pred["long_usd"].mean() * 12


def test_simple_formula_places_longs_a_little_higher(sol_bars: pl.DataFrame) -> None:
    exact = run_model(OIChangeModel(), sol_bars)
    simple = run_model(replace(OIChangeModel(), liq_formula="simple"), sol_bars, grid=exact.grid)
    mids = exact.grid.mids
    w = lambda b: (b * mids).sum() / b.sum()  # noqa: E731
    assert w(simple.out.grid_long.sum(axis=0)) >= w(exact.out.grid_long.sum(axis=0))


def test_each_bar_uses_the_bracket_table_in_force() -> None:
    from perpscope.heatmap.models import _factors

    ts = np.array([1_755_585_000_000 - 1, 1_755_585_000_000])  # 2025-08-19 06:30 UTC − 1 ms, and at it
    m = OIChangeModel(mix=MIXES["mid"], position_usd=100_000.0)
    lf, sf, _ = _factors(m, ts, None)
    # 100,000 USD: tier 2 of the 2021 table (0.5%, cum 50), tier 1 of the 2025 table (0.4%, cum 0)
    k = list(MIXES["mid"].leverages).index(10)
    assert lf[0, k] == pytest.approx((1 - 0.1 - 50 / 100_000) / (1 - 0.005))
    assert lf[1, k] == pytest.approx((1 - 0.1) / (1 - 0.004))
    assert sf[1, k] == pytest.approx((1 + 0.1) / (1 + 0.004))
