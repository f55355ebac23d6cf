"""Market liquidity for the cascade: how far a market order of Q USD moves the price.

One representation serves both sources: an :class:`ImpactCurve` — cumulative resting USD ``cum_usd[j]``
within a relative distance ``move[j]`` of the mid, on the side a market order eats (bids for sells, asks
for buys). A flow of Q USD moves the price by the distance at which the cumulative depth reaches Q
(piecewise-linear; beyond the last point the last segment's slope continues; moves are capped at 99%).

- :func:`curve_from_depth`: a Binance ``bookDepth`` snapshot (bands ±1…±5% of mid, cumulative notional;
  record ``book_depth``).
- :class:`SqrtImpact` / :func:`fit_sqrt_impact`: the square-root impact law
  ``move = Y · σ_d · sqrt(Q / V_d)``, with σ_d the daily volatility and V_d the daily quote volume of the
  bars, and Y fitted from the bars' signed taker flow (see the function's Notes). Used when no depth
  snapshots exist (the case for the shared data: no ``bookDepth`` files were found).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from perpscope.cascade.book import CascadeInputError
from perpscope.core.time import DAY_MS

#: Largest relative move the curves return: price stays positive.
MAX_MOVE = 0.99


@dataclass(frozen=True, slots=True)
class ImpactCurve:
    """Cumulative depth (USD) by relative distance from mid, one side of the book.

    ``move`` and ``cum_usd`` start at 0 and increase strictly; ``source`` says where they came from.
    """

    move: np.ndarray
    cum_usd: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        m, q = self.move, self.cum_usd
        if m.shape != q.shape or m.size < 2 or m[0] != 0.0 or q[0] != 0.0:
            raise CascadeInputError("impact curve: move and cum_usd must be equal-length, ≥ 2 points, from 0")
        if not ((np.diff(m) > 0).all() and (np.diff(q) > 0).all()):
            raise CascadeInputError("impact curve: move and cum_usd must increase strictly")

    def move_of(self, q_usd: np.ndarray | float) -> np.ndarray:
        """Relative move caused by a flow of ``q_usd`` (≥ 0), linear between points, extrapolated."""
        q = np.asarray(q_usd, dtype=np.float64)
        slope = (self.move[-1] - self.move[-2]) / (self.cum_usd[-1] - self.cum_usd[-2])
        inside = np.interp(q, self.cum_usd, self.move)
        beyond = self.move[-1] + (q - self.cum_usd[-1]) * slope
        return np.minimum(np.where(q > self.cum_usd[-1], beyond, inside), MAX_MOVE)

    def usd_for(self, move: np.ndarray | float) -> np.ndarray:
        """Flow (USD) that moves the price by ``move`` (the inverse of :meth:`move_of`)."""
        x = np.asarray(move, dtype=np.float64)
        slope = (self.cum_usd[-1] - self.cum_usd[-2]) / (self.move[-1] - self.move[-2])
        inside = np.interp(x, self.move, self.cum_usd)
        return np.where(x > self.move[-1], self.cum_usd[-1] + (x - self.move[-1]) * slope, inside)


def curve_from_depth(depth: pl.DataFrame, side: str = "bid") -> ImpactCurve:
    """Impact curve from one ``book_depth`` snapshot (the latest in the frame).

    Parameters
    ----------
    depth : polars.DataFrame
        ``book_depth`` rows (``ts_ms, band_pct, notional_usd``): ``band_pct`` −1…−5 bids, +1…+5 asks,
        notional cumulative from mid to the band's edge (Binance ``bookDepth`` files).
    side : {"bid", "ask"}
        Bids absorb market sells (down moves), asks absorb market buys (up moves).
    """
    if depth.is_empty():
        raise CascadeInputError("curve_from_depth: no book_depth rows")
    last = depth.filter(pl.col("ts_ms") == pl.col("ts_ms").max())
    rows = last.filter(pl.col("band_pct") < 0 if side == "bid" else pl.col("band_pct") > 0)
    rows = rows.with_columns(pl.col("band_pct").abs().alias("_d")).sort("_d")
    if rows.height < 1:
        raise CascadeInputError(f"curve_from_depth: the snapshot has no {side} bands")
    move = np.concatenate([[0.0], rows.get_column("_d").to_numpy() / 100.0])
    cum = np.concatenate([[0.0], rows.get_column("notional_usd").cast(pl.Float64).to_numpy()])
    ts = last.get_column("ts_ms")[0]
    return ImpactCurve(move, cum, f"bookDepth {side} @ {ts}")


@dataclass(frozen=True, slots=True)
class SqrtImpact:
    """Square-root impact law ``move = Y·σ_d·sqrt(Q/V_d)`` with its fitted prefactor.

    Attributes
    ----------
    y, y_se : float
        Prefactor Y and its standard error (OLS).
    sigma_d : float
        Daily volatility of log returns (fraction).
    volume_d_usd : float
        Mean daily quote volume, USD.
    n_bars : int
        Bars the fit used.
    """

    y: float
    y_se: float
    sigma_d: float
    volume_d_usd: float
    n_bars: int

    def move_of(self, q_usd: float) -> float:
        return self.y * self.sigma_d * math.sqrt(max(q_usd, 0.0) / self.volume_d_usd)

    def curve(self, y: float | None = None, max_move: float = 0.6, n: int = 600) -> ImpactCurve:
        """The law tabulated as an :class:`ImpactCurve`: ``Q(x) = V_d·(x / (Y·σ_d))²`` at ``n`` moves
        spaced geometrically from 10⁻⁶ to ``max_move`` (linear interpolation then errs < 0.1%)."""
        yy = self.y if y is None else y
        x = np.concatenate([[0.0], np.geomspace(1e-6, max_move, n)])
        return ImpactCurve(x, self.volume_d_usd * (x / (yy * self.sigma_d)) ** 2, f"sqrt law Y={yy:.3g}")


def _volume_bars(bars: pl.DataFrame, need: tuple[str, ...]) -> pl.DataFrame:
    typical = (pl.col("high") + pl.col("low") + pl.col("close")) / 3.0
    b = bars.with_columns(pl.coalesce("volume_quote", pl.col("volume_base") * typical).alias("volume_quote"))
    return b.drop_nulls(list(need)).filter(pl.col("volume_quote") > 0)


def _scales(b: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Per-bar log returns and quote volumes; daily volatility and daily quote volume."""
    per_day = DAY_MS / int(b.get_column("interval_ms")[0])
    r = np.log(b.get_column("close").to_numpy() / b.get_column("open").to_numpy())
    vq = b.get_column("volume_quote").to_numpy().astype(np.float64)
    return r, vq, float(np.std(r, ddof=1) * math.sqrt(per_day)), float(vq.mean() * per_day)


#: Prefactor used when the bars carry no taker flow to fit it: Y is "of order 1" across markets
#: (Tóth et al. 2011); the Monte Carlo then spreads depth wider (see :func:`sqrt_impact_prior`).
Y_PRIOR = 1.0


def sqrt_impact_prior(bars: pl.DataFrame, y: float = Y_PRIOR) -> SqrtImpact:
    """The square-root law with an assumed Y (no taker flow to fit it); σ_d and V_d from the bars."""
    b = _volume_bars(bars, ("open", "close", "volume_quote"))
    if b.height < 30:
        raise CascadeInputError(f"sqrt_impact_prior: need ≥ 30 bars with volume, found {b.height}")
    _, _, sigma_d, vol_d = _scales(b)
    return SqrtImpact(y, math.nan, sigma_d, vol_d, b.height)


def fit_sqrt_impact(bars: pl.DataFrame) -> SqrtImpact:
    """Fit the square-root law on candle bars with taker-buy volume.

    Parameters
    ----------
    bars : polars.DataFrame
        Heatmap model inputs (:func:`perpscope.heatmap.model_inputs`): ``ts_ms, interval_ms, open, high,
        low, close, volume_quote`` (or ``volume_base``, valued at the typical price), ``taker_buy_share``;
        intraday bars (5m or 1h) before the instant of interest.

    Returns
    -------
    SqrtImpact

    Notes
    -----
    Per bar, the signed taker flow ``q = (2·taker_buy_share − 1)·volume_quote`` (USD bought minus sold by
    aggressors) and the return ``r = ln(close/open)``. The law predicts ``r = Y·σ_d·sign(q)·sqrt(|q|/V_d)``;
    Y is the least-squares slope through the origin of r on ``x = σ_d·sign(q)·sqrt(|q|/V_d)``, with σ_d
    the standard deviation of the bars' log returns scaled to a day and V_d the mean quote volume per day.
    Bars aggregate many meta-orders, so this fits the *bar-level* response of price to net flow; it is a
    proxy for book depth, and the Monte Carlo samples Y within its uncertainty.

    References
    ----------
    Tóth, Lempérière, Deremble, de Lataillade, Kockelkoren, Bouchaud (2011), "Anomalous price impact and
    the critical nature of liquidity in financial markets", Phys. Rev. X 1, 021006 (Y of order 1).
    Kyle (1985), "Continuous auctions and insider trading", Econometrica 53(6) (impact from net order flow).
    """
    b = _volume_bars(bars, ("open", "close", "volume_quote", "taker_buy_share"))
    if b.height < 30:
        raise CascadeInputError(
            f"fit_sqrt_impact: need ≥ 30 bars with volume and taker-buy volume, found {b.height}; "
            "use klines that carry taker_buy_base (Binance kline files do)"
        )
    r, vq, sigma_d, vol_d = _scales(b)
    q = (2.0 * b.get_column("taker_buy_share").to_numpy() - 1.0) * vq
    x = sigma_d * np.sign(q) * np.sqrt(np.abs(q) / vol_d)
    sxx = float((x * x).sum())
    y = float((x * r).sum() / sxx)
    resid = r - y * x
    se = float(math.sqrt((resid @ resid) / (len(r) - 1) / sxx))
    if not (y > 0):
        raise CascadeInputError(f"fit_sqrt_impact: fitted Y = {y:.3g} ≤ 0 (price moved against the flow)")
    return SqrtImpact(y, se, sigma_d, vol_d, b.height)
