"""A heatmap calibration of one symbol from the store: read the bars and the realized liquidations,
build the candidate models, fit on one window and score the choice once on the later one.

``perpscope heatmap calibrate SYMBOL`` prints what :func:`calibrate_on_store` returns; a batch
(``heatmap calibrate --symbols …``, :mod:`perpscope.cluster`) stores :func:`calibration_rows` of it per
(venue, perp) as the ``calibration`` derived dataset. One function for both, so a batch row is what the
single command would print for that perp.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from perpscope.assemble.heatmap import heatmap_bars, heatmap_inputs, realized_liquidations
from perpscope.assemble.view import MarketView
from perpscope.core.time import DAY_MS
from perpscope.heatmap import (
    DEFAULT_MODEL,
    DEFAULT_TRADE_FLOW_MODEL,
    ensemble_members,
    with_half_lives,
)
from perpscope.heatmap import calibrate as run_calibration
from perpscope.heatmap.calibration import Calibration, describe
from perpscope.heatmap.models import Model
from perpscope.store import Lake

#: Model families ``--model`` calibrates.
FAMILIES = ("oi-change", "trade-flow")


@dataclass(frozen=True)
class StoreCalibration:
    """A calibration and what it read: the bars' view (price, OI) and the realized liquidations' view."""

    calibration: Calibration
    view: MarketView
    liq_view: MarketView
    n_bars: int
    n_candidates: int


def calibrate_on_store(
    lk: Lake,
    venue: str,
    symbol: str,
    fit: tuple[int, int],
    test_end_ms: int,
    *,
    model: str = "oi-change",
    every_ms: int | None = None,
    liq_venue: str | None = None,
    liq_symbol: str | None = None,
    oi_venue: str | None = None,
    oi_symbol: str | None = None,
) -> StoreCalibration:
    """Calibrate ``model``'s family (:data:`FAMILIES`) for ``symbol`` on ``venue``: fit on ``fit``
    (``[start_ms, end_ms)``, ms UTC), test on ``[fit[1], test_end_ms)``.

    ``every_ms``: bar length (None: the finest stored); the realized liquidations (``liq_venue`` /
    ``liq_symbol``, default: ``venue`` / ``symbol``, falling back to the coin's aggregate as the
    metrics panel does) are summed to it.

    Raises
    ------
    StoreInputError
        When the store has no candles or no realized liquidations for the range.
    ValueError
        For an unknown family, or windows the calibration cannot score
        (:class:`~perpscope.heatmap.calibration.CalibrationWindowError`).
    """
    if model not in FAMILIES:
        raise ValueError(f"--model must be one of {', '.join(FAMILIES)}, got {model!r}")
    f0, f1 = fit
    frames, view = heatmap_inputs(lk, venue, symbol, f0, test_end_ms, oi_venue, oi_symbol, every_ms)
    bars = heatmap_bars(frames, None)
    realized, liq_view = realized_liquidations(
        lk, liq_venue or venue, liq_symbol or symbol, f0, test_end_ms, view.every_ms
    )
    base: Model = DEFAULT_TRADE_FLOW_MODEL if model == "trade-flow" else DEFAULT_MODEL
    # half-lives tried: the trade-flow book forgets faster (it is rebuilt from flows, not netted OI)
    lives = [3 * DAY_MS, 7 * DAY_MS] if model == "trade-flow" else [None, 7 * DAY_MS, 30 * DAY_MS]
    cands = with_half_lives(ensemble_members(base, bars=bars), lives)
    cal = run_calibration(cands, bars, realized, fit=(f0, f1), test=(f1, test_end_ms))
    return StoreCalibration(cal, view, liq_view, bars.height, len(cands))


def calibration_rows(sc: StoreCalibration) -> pl.DataFrame:
    """The calibration as rows of the ``calibration`` dataset: one per (window, score) —
    ``venue, canonical, chosen, window (fit|test), window_start_ms, window_end_ms, every_ms, score,
    value, ci_lo, ci_hi, n``. ``chosen`` is the model picked on the fit window (its description)."""
    cal = sc.calibration
    parts = []
    for name, scores in (("fit", cal.fit), ("test", cal.test)):
        parts.append(
            scores.frame().with_columns(
                pl.lit(name).alias("window"),
                pl.lit(scores.window[0], pl.Int64).alias("window_start_ms"),
                pl.lit(scores.window[1], pl.Int64).alias("window_end_ms"),
            )
        )
    return (
        pl.concat(parts, how="vertical_relaxed")
        .with_columns(
            pl.lit(sc.view.scope.label).alias("venue"),
            pl.lit(sc.view.canonical).alias("canonical"),
            pl.lit(describe(cal.chosen)).alias("chosen"),
            pl.lit(sc.view.every_ms, pl.Int64).alias("every_ms"),
        )
        .select(
            "venue",
            "canonical",
            "chosen",
            "window",
            "window_start_ms",
            "window_end_ms",
            "every_ms",
            "score",
            "value",
            "ci_lo",
            "ci_hi",
            "n",
        )
    )
