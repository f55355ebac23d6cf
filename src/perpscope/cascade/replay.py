"""Replay a real liquidation episode: the state inferred before it, the first push, then compare.

The exogenous push that starts an episode is not observed. The replay takes the **push bar** — the
first bar of the episode window whose range is at least 3× the median range of the day of bars before it
(:func:`push_bar`; read off the klines, never off the simulator) — and its open → low (down episode) or
open → high (up) as the shock. It runs the cascade from the ensemble of heatmap books inferred from the
bars *before* that bar, and compares:

- the simulated final move with the realized one (the push bar's open → the extreme of the window);
- the simulated liquidations of the side at risk with the realized total (CoinGlass's Binance 4h bars
  from the one holding the push to the window's end);
- the simulated branching ratio with published estimates.

The window ends with the first 4h liquidation bar after which the next 4h bar makes no new extreme
(:func:`episode_end`). Nothing here is tuned to the episode: the book comes from the default heatmap
ensemble, the impact law from the 7 days of bars before the shock, the Monte Carlo settings from
:class:`CascadeConfig` defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from perpscope.cascade.book import CascadeInputError, ensemble_books
from perpscope.cascade.liquidity import ImpactCurve, SqrtImpact, fit_sqrt_impact, sqrt_impact_prior
from perpscope.cascade.simulate import CascadeConfig, CascadeResult, Liquidity, Shock, simulate
from perpscope.core.time import DAY_MS, HOUR_MS
from perpscope.heatmap.liqprice import Brackets
from perpscope.heatmap.models import Model


@dataclass(frozen=True)
class ReplayResult:
    """Simulated against realized for one episode (moves as fractions, USD amounts)."""

    name: str
    price: float
    shock_move: float
    realized_move: float
    realized_long_usd: float  # realized liquidations of the side at risk (longs down, shorts up), USD
    impact: SqrtImpact
    result: CascadeResult
    impact_source: str = "fitted"  # "fitted" (taker flow of the bars) or "assumed" (Y = 1, no taker flow)
    mechanics: str = ""

    @property
    def added_move(self) -> np.ndarray:
        """What the cascade added beyond the shock on each path (signed like the move, fraction)."""
        return self.result.final_move - self.shock_move

    def row(self) -> dict[str, float | str]:
        """One row: realized and simulated (p10/p50/p90) move and liquidations of the side at risk."""
        fm = self.result.final_move
        lq = self.result.out.liq_usd
        br = self.result.out.branching
        br = br[np.isfinite(br)]
        m = np.percentile(fm, (10, 50, 90))
        q = np.percentile(lq, (10, 50, 90))
        return {
            "episode": self.name,
            "price": self.price,
            "shock_pct": self.shock_move * 100,
            "realized_move_pct": self.realized_move * 100,
            "sim_move_pct_p10": m[0] * 100,
            "sim_move_pct_p50": m[1] * 100,
            "sim_move_pct_p90": m[2] * 100,
            "realized_long_usd": self.realized_long_usd,
            "sim_long_usd_p10": q[0],
            "sim_long_usd_p50": q[1],
            "sim_long_usd_p90": q[2],
            "long_usd_ratio_p50": q[1] / self.realized_long_usd if self.realized_long_usd > 0 else math.nan,
            "added_pct_p50": float(np.median(self.added_move)) * 100,
            "branching_p50": float(np.median(br)) if br.size else math.nan,
            "impact_y": self.impact.y,
            "impact_source": self.impact_source,
            "open_long_usd": self.result.open_usd,
        }


def push_bar(fine: pl.DataFrame, start_ms: int, end_ms: int, direction: int, k: float = 3.0) -> int:
    """Open (ms) of the first bar in [start_ms, end_ms) whose move from its open toward ``direction``
    (+1: open → low, −1: open → high) is at least ``k`` × the median high–low range of the day before it."""
    ts = fine.get_column("ts_ms").dt.epoch("ms").to_numpy()
    o, h, lo = (fine.get_column(c).to_numpy() for c in ("open", "high", "low"))
    rng = (h - lo) / o
    push = np.where(direction > 0, 1.0 - lo / o, h / o - 1.0)
    for i in np.flatnonzero((ts >= start_ms) & (ts < end_ms)):
        day = (ts >= ts[i] - DAY_MS) & (ts < ts[i])
        if day.sum() >= 6 and push[i] >= k * float(np.median(rng[day])):
            return int(ts[i])
    raise CascadeInputError(f"push_bar: no bar in the window moved {k:g}× the day's median range")


def episode_end(fine: pl.DataFrame, push_ms: int, direction: int, bar_ms: int = 4 * HOUR_MS) -> int:
    """End (ms) of the window: the first 4h bar from the push's on after which the next 4h bar makes no
    new extreme (low for a down episode, high for an up one)."""
    ts = pl.col("ts_ms").dt.epoch("ms")
    after = fine.filter(ts >= push_ms).with_columns((ts // bar_ms * bar_ms).alias("_b"))
    ext = after.group_by("_b").agg(pl.col("low").min(), pl.col("high").max()).sort("_b")
    best = math.inf if direction > 0 else -math.inf
    for b, low, high in ext.iter_rows():
        x = low if direction > 0 else high
        if (direction > 0 and x >= best) or (direction < 0 and x <= best):
            return int(b)  # this bar made no new extreme: the window ended with the previous one
        best = x
    return int(ext.get_column("_b")[-1]) + bar_ms


def replay(
    name: str,
    state_bars: pl.DataFrame,
    fine_bars: pl.DataFrame,
    *,
    shock_ms: int,
    end_ms: int,
    realized_long_usd: float,
    direction: int = 1,
    config: CascadeConfig | None = None,
    members: list[Model] | None = None,
    brackets: Brackets | None = None,
    depth_divisor: float = 1.0,
) -> ReplayResult:
    """Replay one episode.

    Parameters
    ----------
    name : str
    state_bars : polars.DataFrame
        Heatmap model inputs (with open interest) ending before ``shock_ms``: the book's history.
    fine_bars : polars.DataFrame
        Intraday model inputs (5m or 1h) covering the days before ``shock_ms`` and the episode up to
        ``end_ms``: the impact law is fitted on the 7 days of bars before ``shock_ms`` (Y assumed = 1 when
        they carry no taker flow); the shock and the realized move are read from the bars from
        ``shock_ms`` on.
    shock_ms, end_ms : int
        Open of the episode's push bar and end of the window, ms UTC.
    realized_long_usd : float
        Liquidations of the side at risk realized in the window (longs for ``direction=1``), USD.
    direction : {1, -1}
        1: a down episode (longs at risk); −1: up (shorts).
    brackets : Brackets, optional
        Tables and formula pricing the books (default Binance BTCUSDT).
    depth_divisor : float
        Sensitivity runs only: divide the fitted depth by this (1 = as fitted).
    """
    ts = pl.col("ts_ms").dt.epoch("ms")
    ended = ts + pl.col("interval_ms") <= shock_ms  # only bars that closed before the push
    before = state_bars.filter(ended)
    fit_on = fine_bars.filter(ended & (ts >= shock_ms - 7 * DAY_MS))
    window = fine_bars.filter((ts >= shock_ms) & (ts < end_ms)).sort("ts_ms")
    if window.is_empty() or before.is_empty():
        raise CascadeInputError(f"replay {name}: no bars before or after the shock instant {shock_ms}")
    first = window.row(0, named=True)
    p0 = float(first["open"])
    if direction > 0:
        shock = float(first["low"]) / p0 - 1.0
        realized = float(window.get_column("low").min()) / p0 - 1.0  # type: ignore[arg-type]
    else:
        shock = float(first["high"]) / p0 - 1.0
        realized = float(window.get_column("high").max()) / p0 - 1.0  # type: ignore[arg-type]
    try:
        impact, source = fit_sqrt_impact(fit_on), "fitted"
    except CascadeInputError:
        impact, source = sqrt_impact_prior(fit_on), "assumed"
    curve = impact.curve()
    curve = ImpactCurve(curve.move, curve.cum_usd / depth_divisor, curve.source)
    spread = impact_spread(fit_on) if source == "fitted" else 0.7
    liq = Liquidity(curve, curve, depth_log_sd=spread)
    books, _ = ensemble_books(before, members=members, brackets=brackets)
    result = simulate(books, p0, Shock("move", shock), liq, config)
    note = brackets.note(shock_ms) if brackets is not None else ""
    return ReplayResult(name, p0, shock, realized, realized_long_usd, impact, result, source, note)


def impact_spread(bars: pl.DataFrame) -> float:
    """Log-sd of the depth multiplier implied by day-to-day variation of the fitted Y (depth ∝ 1/Y²).

    Fits Y on each UTC day separately; returns ``2·sd(ln Y_day)`` (0.3 when fewer than 3 days fit).
    """
    days = bars.with_columns(pl.col("ts_ms").dt.truncate("1d").alias("_day")).partition_by("_day")
    ys = []
    for d in days:
        try:
            ys.append(fit_sqrt_impact(d.drop("_day")).y)
        except CascadeInputError:
            continue
    if len(ys) < 3:
        return 0.3
    return float(2.0 * np.std(np.log(ys), ddof=1))


@dataclass(frozen=True, slots=True)
class Episode:
    """A real episode to replay: when the state is read, the window the push is looked for in, which
    file holds the fine bars.

    ``state_from_ms``: first bar of the heatmap history (1h bars with open interest); ``window_ms``: start
    of the window :func:`push_bar` searches; ``direction``: 1 down, −1 up; ``fine_file``: the kline file
    (in ``binance_um_klines_leopoldlj``) of the fine bars. The push instant and the window's end are
    read from those bars (:func:`push_bar`, :func:`episode_end`).
    """

    name: str
    state_from_ms: int
    window_ms: int
    direction: int
    fine_file: str
    symbol: str = "BTC"


def _ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text + "+00:00").timestamp() * 1000)


_BTC_5M_OCT = "BTCUSDT_perp_5m_20251006_20251015.csv.gz"
_BTC_5M_AUG = "BTCUSDT_perp_5m_20250808_20250901.csv.gz"
_BTC_1H = "BTCUSDT_perp_1h_20191001_20260210.csv.gz"

#: Four episodes inside the span where the shared data holds Binance BTC open interest by exchange
#: (2025-05-15 → 11-14) and Binance liquidations (to 2025-11-14): the regime benchmark's dated events
#: (benchmarks/regime_events.toml); the push is searched from the event's start, for 10 Oct from its
#: labelled deleveraging-flush bar (20:00; from 12:00 the rule finds a 13:45 dip of the afternoon
#: instead). State: 30 days before (10 Oct: from 19 Sep, after the OI file's 11–18 Sep gap).
EPISODES = (
    Episode("2025-10-10 tariff crash", _ms("2025-09-19T00:00:00"), _ms("2025-10-10T20:00:00"), 1,
            _BTC_5M_OCT),
    Episode("2025-08-14 PPI drop", _ms("2025-07-15T00:00:00"), _ms("2025-08-14T00:00:00"), 1, _BTC_5M_AUG),
    Episode("2025-07-14 ATH squeeze", _ms("2025-06-14T00:00:00"), _ms("2025-07-14T00:00:00"), -1, _BTC_1H),
    Episode("2025-11-12 slide", _ms("2025-10-13T00:00:00"), _ms("2025-11-12T12:00:00"), 1, _BTC_1H),
)  # fmt: skip
