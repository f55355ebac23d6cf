"""Replay a real liquidation episode: the state inferred before it, the first push, then compare.

The exogenous push that starts an episode is not observed. The replay takes the **first bar of the
episode** (the bar at ``shock_ms``: its open → low for a down episode) as the shock, runs the cascade from
the ensemble of heatmap books inferred from the bars *before* that bar, and compares:

- the simulated final move with the realized one (the bar's open → the lowest low of the window);
- the simulated long liquidations with the realized total (e.g. CoinGlass's Binance 4h bar);
- the simulated branching ratio with published estimates.

Nothing here is tuned to the episode: the book comes from the default heatmap ensemble, the impact law
from the bars before the shock, the Monte Carlo settings from :class:`CascadeConfig` defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from perpscope.cascade.book import CascadeInputError, ensemble_books
from perpscope.cascade.liquidity import ImpactCurve, SqrtImpact, fit_sqrt_impact
from perpscope.cascade.simulate import CascadeConfig, CascadeResult, Liquidity, Shock, simulate
from perpscope.heatmap.models import Model


@dataclass(frozen=True)
class ReplayResult:
    """Simulated against realized for one episode (moves as fractions, USD amounts)."""

    name: str
    price: float
    shock_move: float
    realized_move: float
    realized_long_usd: float
    impact: SqrtImpact
    result: CascadeResult

    def row(self) -> dict[str, float | str]:
        """One row: realized and simulated (p10/p50/p90) move and long liquidations, errors of the median."""
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
            "branching_p50": float(np.median(br)) if br.size else math.nan,
            "impact_y": self.impact.y,
            "open_long_usd": self.result.open_usd,
        }


def replay(
    name: str,
    state_bars: pl.DataFrame,
    fine_bars: pl.DataFrame,
    *,
    shock_ms: int,
    end_ms: int,
    realized_long_usd: float,
    config: CascadeConfig | None = None,
    members: list[Model] | None = None,
    depth_divisor: float = 1.0,
) -> ReplayResult:
    """Replay one down episode.

    Parameters
    ----------
    name : str
    state_bars : polars.DataFrame
        Heatmap model inputs (with open interest) ending before ``shock_ms``: the book's history.
    fine_bars : polars.DataFrame
        Intraday model inputs (5m) covering the days before ``shock_ms`` and the episode up to ``end_ms``:
        the impact law is fitted on the bars before ``shock_ms``; the shock and the realized move are read
        from the bars from ``shock_ms`` on.
    shock_ms, end_ms : int
        Open of the episode's first bar and end of the window, ms UTC.
    realized_long_usd : float
        Long liquidations realized in the window, USD.
    depth_divisor : float
        Sensitivity runs only: divide the fitted depth by this (1 = as fitted).
    """
    ts = pl.col("ts_ms").dt.epoch("ms")
    ended = ts + pl.col("interval_ms") <= shock_ms  # only bars that closed before the push
    before = state_bars.filter(ended)
    fit_on = fine_bars.filter(ended)
    window = fine_bars.filter((ts >= shock_ms) & (ts < end_ms)).sort("ts_ms")
    if window.is_empty() or before.is_empty():
        raise CascadeInputError(f"replay {name}: no bars before or after the shock instant {shock_ms}")
    first = window.row(0, named=True)
    p0 = float(first["open"])
    shock = float(first["low"]) / p0 - 1.0
    realized = float(window.get_column("low").min()) / p0 - 1.0  # type: ignore[arg-type]
    impact = fit_sqrt_impact(fit_on)
    curve = impact.curve()
    curve = ImpactCurve(curve.move, curve.cum_usd / depth_divisor, curve.source)
    liq = Liquidity(curve, curve, depth_log_sd=impact_spread(fit_on))
    books, _ = ensemble_books(before, members=members)
    result = simulate(books, p0, Shock("move", shock), liq, config)
    return ReplayResult(name, p0, shock, realized, realized_long_usd, impact, result)


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
    """A real episode to replay: when the state is read, when the push came, which files hold it.

    ``state_from_ms``: first bar of the heatmap history (1h bars with open interest); ``shock_ms``: open
    of the episode's first 5m bar; ``end_ms``: end of the realized window; ``liq_bar_ms``: the 4h bar of
    realized liquidations compared; ``fine_file``: the 5m kline file (in ``binance_um_klines_leopoldlj``).
    """

    name: str
    state_from_ms: int
    shock_ms: int
    end_ms: int
    liq_bar_ms: int
    fine_file: str


def _ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text + "+00:00").timestamp() * 1000)


#: The two episodes of the issue. The push bar is the first 5m bar whose range broke out of the quiet
#: before it (read off the klines, not chosen by the simulator's result); windows end when the realized
#: 4h liquidation bar ends.
EPISODES = (
    Episode(
        "2025-10-10 tariff crash", _ms("2025-09-19T00:00:00"), _ms("2025-10-10T20:50:00"),
        _ms("2025-10-11T00:00:00"), _ms("2025-10-10T20:00:00"), "BTCUSDT_perp_5m_20251006_20251015.csv.gz",
    ),
    Episode(
        "2025-08-14 PPI drop", _ms("2025-07-15T00:00:00"), _ms("2025-08-14T12:30:00"),
        _ms("2025-08-14T16:00:00"), _ms("2025-08-14T12:00:00"), "BTCUSDT_perp_5m_20250808_20250901.csv.gz",
    ),
)  # fmt: skip
