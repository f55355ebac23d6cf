"""Impact curves: Binance bookDepth bands, the square-root law and its fit."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from perpscope.cascade import CascadeInputError, ImpactCurve, curve_from_depth, fit_sqrt_impact


def _depth() -> pl.DataFrame:
    # Hand-made rows in the bookDepth record layout (cumulative notional from mid to the band edge)
    bands = [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]
    usd = [500e6, 400e6, 300e6, 200e6, 100e6, 120e6, 240e6, 360e6, 480e6, 600e6]
    return pl.DataFrame({"ts_ms": [1] * 10, "band_pct": bands, "notional_usd": usd})


def test_depth_bands_give_a_piecewise_linear_curve() -> None:
    bid = curve_from_depth(_depth(), "bid")
    assert bid.move.tolist() == [0.0, 0.01, 0.02, 0.03, 0.04, 0.05]
    # 150 M USD of selling lies halfway between the 1% (100 M) and 2% (200 M) bands
    assert float(bid.move_of(150e6)) == pytest.approx(0.015)
    # beyond 5% the last band's slope continues: 600 M → 6%
    assert float(bid.move_of(600e6)) == pytest.approx(0.06)
    ask = curve_from_depth(_depth(), "ask")
    assert float(ask.usd_for(0.025)) == pytest.approx(300e6)
    assert float(bid.usd_for(bid.move_of(321e6))) == pytest.approx(321e6)


def test_curve_rejects_non_increasing_depth() -> None:
    with pytest.raises(CascadeInputError, match="increase strictly"):
        ImpactCurve(np.array([0.0, 0.01, 0.02]), np.array([0.0, 5.0, 5.0]))
    with pytest.raises(CascadeInputError, match="no book_depth rows"):
        curve_from_depth(_depth().head(0))


def _law_bars(y: float, n: int = 4000, seed: int = 3) -> pl.DataFrame:
    """5m bars whose returns follow r = Y·σ·sign(q)·sqrt(|q|/V) + noise, with known Y (the oracle)."""
    rng = np.random.default_rng(seed)
    vq = rng.gamma(4.0, 5e7, n)
    share = np.clip(0.5 + rng.normal(0, 0.08, n), 0.05, 0.95)
    q = (2 * share - 1) * vq
    sigma_guess, vol_d = 0.02, vq.mean() * 288
    r = y * sigma_guess * np.sign(q) * np.sqrt(np.abs(q) / vol_d) + rng.normal(0, 0.0005, n)
    open_ = 100_000 * np.exp(np.concatenate([[0.0], np.cumsum(r)[:-1]]))
    return pl.DataFrame({
        "ts_ms": pl.Series(np.arange(n) * 300_000, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
        "interval_ms": 300_000, "open": open_, "close": open_ * np.exp(r), "volume_quote": vq,
        "high": open_ * 1.001, "low": open_ * 0.999, "volume_base": vq / open_,
        "taker_buy_share": share,
    })  # fmt: skip


def test_sqrt_law_fit_recovers_the_generating_prefactor() -> None:
    bars = _law_bars(0.8)
    fit = fit_sqrt_impact(bars)
    # the generator used σ = 0.02 while the fit measures σ from the same returns: Y·σ is what is identified
    assert fit.y * fit.sigma_d == pytest.approx(0.8 * 0.02, rel=0.05)
    assert fit.volume_d_usd == pytest.approx(bars["volume_quote"].mean() * 288)
    c = fit.curve()
    q = 1e9
    assert float(c.move_of(q)) == pytest.approx(fit.move_of(q), rel=1e-3)
    assert fit.move_of(4 * q) == pytest.approx(2 * fit.move_of(q))  # square root


def test_fit_needs_taker_flow() -> None:
    with pytest.raises(CascadeInputError, match="≥ 30 bars"):
        fit_sqrt_impact(_law_bars(1.0).head(10))
    assert math.isfinite(fit_sqrt_impact(_law_bars(1.0)).y_se)


def test_prior_law_without_taker_flow_uses_assumed_y() -> None:
    from perpscope.cascade.liquidity import Y_PRIOR, sqrt_impact_prior

    bars = _law_bars(0.8).with_columns(taker_buy_share=None)
    with pytest.raises(CascadeInputError):
        fit_sqrt_impact(bars)
    prior = sqrt_impact_prior(bars)
    assert prior.y == Y_PRIOR and math.isnan(prior.y_se)
    assert prior.volume_d_usd == pytest.approx(bars["volume_quote"].mean() * 288)
