"""Price-level scores of heatmap models from the store: recorded liquidation orders against the book.

:func:`price_level_scores` reads each symbol's ``liquidations`` records (orders with a price, e.g.
Binance ``forceOrder`` recordings), cuts them into windows of ``window_ms`` aligned to UTC, runs the
model once over the symbol's stored bars and scores every window against the book as it stood when the
window opened (:mod:`perpscope.heatmap.price_level`). :func:`fit_then_test` picks one variant on the
fit windows and scores it once on the test windows. ``perpscope heatmap score`` and
``benchmarks/heatmap_price_level.py`` print them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import nnls

from perpscope.assemble.errors import StoreInputError
from perpscope.assemble.heatmap import heatmap_bars, heatmap_inputs
from perpscope.assemble.scope import Scope
from perpscope.assemble.view import resolve_canonical
from perpscope.core.time import DAY_MS
from perpscope.heatmap import DEFAULT_MODEL, DEFAULT_TRADE_FLOW_MODEL
from perpscope.heatmap.calibration import describe
from perpscope.heatmap.inputs import HeatmapInputError
from perpscope.heatmap.models import MIXES, LeverageMix, OIChangeModel, PriceGrid, default_grid, run_model
from perpscope.heatmap.price_level import (
    FIT_TEST_SPLIT_MS,
    Book,
    SideScore,
    Summary,
    score_window,
    summarize,
)
from perpscope.store import Lake
from perpscope.store.reader import read

#: Window of orders scored against one book, ms (4 h: the models' netting window).
WINDOW_MS = 4 * 3_600_000

#: History the model reads before the first window, ms.
LOOKBACK_MS = 365 * DAY_MS


#: The variants fitted on the fit windows (overrides of both defaults): the leverage mix (where the
#: liquidation prices sit), the memory of the book (half-life; ``None`` = positions stay until price
#: reaches them or open interest says they closed) and the entry rule.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "low mix": {"mix": MIXES["low"]},
    "mid mix": {"mix": MIXES["mid"]},
    "no decay": {"half_life_ms": None},
    "no decay, low mix": {"half_life_ms": None, "mix": MIXES["low"]},
    "no decay, mid mix": {"half_life_ms": None, "mix": MIXES["mid"]},
    "close entry": {"entry_rule": "close"},
}


def liquidation_orders(lk: Lake, venue: str, symbol: str) -> pl.DataFrame:
    """Stored liquidation orders of ``symbol`` on ``venue``: ``ts_ms`` (int ms), ``side``, ``price``,
    ``notional_usd`` (orders without a price or USD are left out)."""
    canon, _ = resolve_canonical(lk, symbol, Scope.parse(venue))
    o = read(lk, "liquidations", venue=venue, symbol=canon, sources="all")
    if o.is_empty():
        return pl.DataFrame(
            schema={"ts_ms": pl.Int64, "side": pl.String, "price": pl.Float64, "notional_usd": pl.Float64}
        )
    return (
        o.select(pl.col("ts_ms").dt.epoch("ms"), "side", "price", "notional_usd")
        .filter(pl.col("price").is_finite() & (pl.col("notional_usd") > 0))
        .sort("ts_ms")
    )


def price_level_scores(
    lk: Lake,
    symbols: Sequence[str],
    *,
    venue: str = "binance",
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    every_ms: int | None = WINDOW_MS,
    window_ms: int = WINDOW_MS,
    lookback_ms: int = LOOKBACK_MS,
    band_pct: float = 0.25,
    k: int = 5,
    width_pct: float = 0.5,
    seed: int = 0,
) -> dict[str, list[SideScore]]:
    """Scores of every variant (label → window scores) over every window holding stored orders, for
    each symbol with orders and candles.

    A variant is a set of parameter overrides (e.g. ``{"mix": MIXES["low"], "half_life_ms": None}``)
    applied to both defaults; each window is read with the oi-change default where open interest covers
    at least half of the 30 days before it, else with the trade-flow default. Default: ``{"auto": {}}``.
    The model reads ``lookback_ms`` of history before the first window (its half-life decides how much
    of it the book remembers), at ``every_ms`` bars (default 4 h: every symbol with recorded orders has
    them over the whole span; ``None`` = the finest covering it).

    Raises
    ------
    StoreInputError
        When no window has both liquidation orders and the bars to run a model.
    """
    out: dict[str, list[SideScore]] = {}
    used = 0
    for sym in symbols:
        orders = liquidation_orders(lk, venue, sym)
        if orders.is_empty():
            continue
        starts = np.unique(orders.get_column("ts_ms").to_numpy() // window_ms) * window_ms
        try:
            frames, _ = heatmap_inputs(
                lk, venue, sym, int(starts[0]) - lookback_ms, int(starts[-1]) + window_ms, every_ms=every_ms
            )
            bars = heatmap_bars(frames, None)
        except StoreInputError:
            continue
        ts = bars.get_column("ts_ms").dt.epoch("ms").to_numpy().astype(np.int64)
        iv = int(bars.get_column("interval_ms")[0])
        high, low = bars.get_column("high").to_numpy(), bars.get_column("low").to_numpy()
        close = bars.get_column("close").to_numpy()
        has_oi = (
            bars.get_column("oi_usd").is_not_null() | bars.get_column("oi_base").is_not_null()
        ).to_numpy()
        vs = variants or {"auto": {}}
        models = [
            (label, replace(base, **ov))
            for label, ov in vs.items()
            for base in (DEFAULT_MODEL, DEFAULT_TRADE_FLOW_MODEL)
        ]
        grids = [default_grid(bars, m) for _, m in models]
        lo, hi = min(g.lo for g in grids), max(g.lo + g.width * g.n_bins for g in grids)
        grid = PriceGrid(lo, (hi - lo) / 2000, 2000)  # one grid for every variant
        for label, m in models:
            try:
                run = run_model(m, bars, grid=grid, snapshot_at=starts)
            except HeatmapInputError:  # oi-change with no open interest stored
                continue
            snap_bars = np.flatnonzero(np.isin(ts, run.snapshot_ts_ms))
            rng = np.random.default_rng(seed)
            for s0 in starts:
                j = int(np.searchsorted(ts + iv, s0, side="right")) - 1
                in_w = (ts >= s0) & (ts < s0 + window_ms)
                if j < 0 or not in_w.any():
                    continue
                # oi-change where open interest covers half the 30 days before the window, else trade-flow
                oi_cov = float(has_oi[(ts >= s0 - 30 * DAY_MS) & (ts < s0)].mean())
                if isinstance(m, OIChangeModel) != (oi_cov >= 0.5):
                    continue
                used += 1
                row = int(np.searchsorted(snap_bars, j))
                book = Book(grid, float(close[j]), run.out.grid_long[row], run.out.grid_short[row])
                o = orders.filter((pl.col("ts_ms") >= s0) & (pl.col("ts_ms") < s0 + window_ms))
                out.setdefault(label, []).extend(
                    score_window(
                        book, high[in_w], low[in_w], o, symbol=sym, start_ms=int(s0),
                        end_ms=int(s0) + window_ms, model=describe(m), band_pct=band_pct, k=k,
                        width_pct=width_pct, rng=rng,
                    )
                )  # fmt: skip
    if not used:
        raise StoreInputError(
            f"no symbol among {', '.join(symbols)} has both liquidation orders and candles on {venue} in the "
            "store: price-level scores need recorded orders (e.g. Binance forceOrder CSVs: perpscope import "
            "PATH) and the candles of the same days"
        )
    return out


@dataclass(frozen=True, slots=True)
class FitTest:
    """Every variant's fit summary, the one chosen on the fit windows, and its test summary."""

    fit: dict[str, Summary]
    chosen: str
    test: Summary


def fit_then_test(scores: Mapping[str, Sequence[SideScore]], *, seed: int = 0) -> FitTest:
    """Choose the variant with the largest *zones minus controls* on the fit windows (ties: higher mean
    Spearman), then summarize it on the test windows — once.

    Raises
    ------
    ValueError
        When no variant has fit and test windows.
    """
    fit = {}
    for label, s in scores.items():
        try:
            fit[label] = summarize(s, "fit", seed=seed)
        except ValueError:
            continue
    if not fit:
        raise ValueError("price-level scores: no window before the fit/test split")

    def key(label: str) -> tuple[float, float]:
        f = fit[label]
        a, b = f.zone_minus_control[0], f.spearman_model[0]
        return (a if not math.isnan(a) else -math.inf, b if not math.isnan(b) else -math.inf)

    chosen = max(fit, key=key)
    return FitTest(fit, chosen, summarize(scores[chosen], "test", seed=seed))


#: Leverages whose books the mix is fitted over (every leverage of the shipped mixes).
FIT_LEVERAGES = (2.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0, 75.0, 100.0, 125.0)


def fit_leverage_mix(
    lk: Lake,
    symbols: Sequence[str],
    *,
    venue: str = "binance",
    leverages: Sequence[float] = FIT_LEVERAGES,
    band_pct: float = 0.25,
) -> LeverageMix:
    """The leverage mix that best explains where the *fit* windows' orders printed (an inverse problem).

    The kernel is linear in the mix's weights, so the book of a mix is the weighted sum of the books of
    one leverage each. Per fit window and price band reached, realized USD ≈ Σ_k w_k · (USD of the
    leverage-k book in the band): non-negative least squares (``scipy.optimize.nnls``) over every fit
    window's bands, weights then normalized to sum to 1. Only windows before
    :data:`~perpscope.heatmap.price_level.FIT_TEST_SPLIT_MS` are read.

    Raises
    ------
    ValueError
        When no fit window reaches a band any leverage's book holds USD in.
    """
    variants = {f"{lev:g}x": {"mix": LeverageMix(f"{lev:g}x", (lev,), (1.0,))} for lev in leverages}
    scores = price_level_scores(lk, symbols, venue=venue, variants=variants, band_pct=band_pct)
    keyed = {
        label: {(s.symbol, s.start_ms, s.side): s for s in ss if s.start_ms < FIT_TEST_SPLIT_MS}
        for label, ss in scores.items()
    }
    labels = [f"{lev:g}x" for lev in leverages]
    windows = sorted(set.intersection(*(set(keyed.get(lab, {})) for lab in labels)))
    ys, xs = [], []
    for w in windows:
        first = keyed[labels[0]][w]
        ys.append(np.asarray(first.realized_bands))
        xs.append(np.column_stack([np.asarray(keyed[lab][w].model_bands) for lab in labels]))
    if not windows or not np.concatenate(xs).any():
        raise ValueError("fit_leverage_mix: no fit window reaches a band that any leverage's book holds")
    x, y = np.concatenate(xs), np.concatenate(ys)
    scale = x.max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    w, _ = nnls(x / scale, y)
    w = w / scale
    if w.sum() <= 0:
        raise ValueError("fit_leverage_mix: the least-squares weights are all zero (no explaining book)")
    keep = w > 0
    return LeverageMix(
        "fitted",
        tuple(float(v) for v in np.asarray(leverages)[keep]),
        tuple(float(v) for v in w[keep] / w.sum()),
    )
