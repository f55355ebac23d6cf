"""The horizons a bar is read over — the bar itself, the window (1 day) and the long window (3 days) —
and the changes, liquidation sums and label conditions of each.

Columns of a horizon carry its suffix (:data:`SUFFIX`): ``price_chg`` (the window, the documented main
reading), ``price_chg_bar``, ``price_chg_long``. Thresholds of moves scale with the square root of the
horizon against the window for the long window (a random walk's range grows so: 1% × √3 = 1.73% over
3 days); the bar itself reads an event only when the window's thresholds are crossed within the one bar
(1% price, 2% OI in 4 hours). Shares, funding and burst thresholds do not scale.
"""

from __future__ import annotations

import math

import polars as pl

from perpscope.core.time import interval_label
from perpscope.regimes.config import RegimeConfig
from perpscope.regimes.grid import lagged, with_window_any, with_window_sums

#: Horizon → column suffix.
SUFFIX: dict[str, str] = {"bar": "_bar", "window": "", "long": "_long"}

#: Numeric columns written per horizon (each with the horizon's suffix).
PER_HORIZON: tuple[str, ...] = (
    "price_chg",
    "oi_chg",
    "oi_usd_chg",
    "liq_long_w_usd",
    "liq_short_w_usd",
    "liq_long_share_w",
    "liq_burst_w",
)

#: Label → the direction of the bar's own close that dates it (−1 down, +1 up; absent: any bar).
DIRECTION: dict[str, int] = {
    "deleveraging_flush": -1,
    "short_covering": 1,
    "new_shorts": -1,
    "leverage_buildup": 1,
    "latent_fragility": -1,
}


def spans(cfg: RegimeConfig, bar_ms: int) -> dict[str, int]:
    """Horizon → its length in ms (the bar's own length for ``bar``)."""
    return {"bar": bar_ms, "window": cfg.window_ms, "long": cfg.long_window_ms}


def names(cfg: RegimeConfig) -> dict[str, str]:
    """Horizon → how the evidence names it: ``bar``, ``1d``, ``3d``."""
    return {"bar": "bar", "window": interval_label(cfg.window_ms), "long": interval_label(cfg.long_window_ms)}


def with_changes(t: pl.DataFrame, cfg: RegimeConfig, step: int | None, bar_ms: int) -> pl.DataFrame:
    """``t`` (inputs of :func:`~perpscope.regimes.classify.classify`: ``_close, _oi, _oi_usd,
    funding_8h, _liq_l, _liq_s, _burst``) with :data:`PER_HORIZON` per horizon, and ``funding_chg``
    over the window."""
    for h, ms in spans(cfg, bar_ms).items():
        s, lag = SUFFIX[h], f"_lag_{h}"  # lagged() writes <col>_lag: renamed before the next horizon
        t = lagged(t, ["_close", "_oi", "_oi_usd", "funding_8h"], ms, step).rename(
            {f"{c}_lag": f"{c}{lag}" for c in ("_close", "_oi", "_oi_usd", "funding_8h")}
        )
        t = with_window_sums(t, {"_liq_l": f"liq_long_w_usd{s}", "_liq_s": f"liq_short_w_usd{s}"}, ms, step)
        t = with_window_any(t, "_burst", f"_burst_w{s}", ms, step)
        long_, short = pl.col(f"liq_long_w_usd{s}"), pl.col(f"liq_short_w_usd{s}")
        t = t.with_columns(
            (pl.col("_close") / pl.col(f"_close{lag}") - 1.0).alias(f"price_chg{s}"),
            (pl.col("_oi") / pl.col(f"_oi{lag}") - 1.0).alias(f"oi_chg{s}"),
            (pl.col("_oi_usd") / pl.col(f"_oi_usd{lag}") - 1.0).alias(f"oi_usd_chg{s}"),
            pl.when(pl.col("_burst").is_not_null()).then(pl.col(f"_burst_w{s}")).alias(f"liq_burst_w{s}"),
            pl.when(long_ + short > 0).then(long_ / (long_ + short)).alias(f"liq_long_share_w{s}"),
        )
    return t.with_columns((pl.col("funding_8h") - pl.col("funding_8h_lag_window")).alias("funding_chg"))


def _scale(cfg: RegimeConfig, horizon: str, ms: int) -> float:
    """Move thresholds of a horizon: × √(horizon / window) for the long window; × 1 for the bar, which
    reads an event only when the window's own thresholds are crossed within the one bar (scaled down,
    a 4h bar read a move at 0.41%: every third bar was an "event", seen on BTC Nov 2025 at 80 columns)."""
    return 1.0 if horizon == "bar" else max(1.0, math.sqrt(ms / cfg.window_ms))


def move_thresholds(cfg: RegimeConfig, horizon: str, bar_ms: int | None = None) -> tuple[float, float]:
    """The horizon's price and OI move thresholds (fractions): the config's, scaled (:func:`_scale`).

    ``bar_ms`` (needed for ``bar``) sets the horizon's length, and so the scale.
    """
    k = _scale(cfg, horizon, spans(cfg, bar_ms or cfg.window_ms)[horizon])
    return cfg.price_move * k, cfg.oi_move * k


def conditions(cfg: RegimeConfig, horizon: str = "window", bar_ms: int | None = None) -> dict[str, pl.Expr]:
    """The condition of each label (before precedence) over one horizon's columns.

    ``bar_ms`` (needed for ``bar``) sets the horizon's length, and so the scale of its move thresholds.
    (:mod:`perpscope.regimes.grid_labels` compiles the same conditions; a test holds the two equal.)
    """
    s = SUFFIX[horizon]
    p, o, ou, f = (
        pl.col(f"price_chg{s}"),
        pl.col(f"oi_chg{s}"),
        pl.col(f"oi_usd_chg{s}"),
        pl.col("funding_8h"),
    )
    pm, om = move_thresholds(cfg, horizon, bar_ms)
    up, down = p >= pm, p <= -pm
    oi_up, oi_down, oi_holds = o >= om, o <= -om, o.abs() < om
    funding_up = (f >= cfg.funding_up_8h) | ((f > 0) & (pl.col("funding_chg") > 0))
    share = pl.col(f"liq_long_share_w{s}")
    burst = pl.col(f"liq_burst_w{s}").fill_null(False)
    long_liqs = (share >= cfg.flush_long_share) & (pl.col(f"liq_long_w_usd{s}") > 0)
    short_liqs = (share <= 1 - cfg.flush_long_share) & (pl.col(f"liq_short_w_usd{s}") > 0)
    # the two readings where OI in coins and in USD disagree because liquidations, not choices, moved OI:
    # longs liquidated in a burst while new shorts took the other side (coins held, USD fell with the
    # price), and its mirror, a rally on liquidated shorts with no new positions in coins
    liq_led_flush = down & (o < om) & (ou <= -om) & long_liqs & burst
    liq_led_cover = up & (o < om) & short_liqs & burst
    # a washout: a burst of liquidations of both sides with price and OI (coins) down deleverages
    washout = down & oi_down & burst & (share >= 1 - cfg.flush_long_share)
    ls, lz = pl.col("ls_ratio"), pl.col("ls_z")
    has_ls = ls.is_not_null()
    short_skew = (
        pl.when(has_ls)
        .then((ls <= cfg.ls_short_max) | (lz <= -cfg.ratio_z))
        .otherwise(
            pl.col("_f_ext") == -1
        )  # no ratio: an extreme negative funding is the only positioning read
    )
    long_skew = (
        pl.when(has_ls).then((ls >= cfg.ls_long_min) | (lz >= cfg.ratio_z)).otherwise(pl.col("_f_ext") == 1)
    )
    return {
        "deleveraging_flush": (down & oi_down & long_liqs) | liq_led_flush | washout,
        "short_covering": (up & oi_down) | liq_led_cover,
        "new_shorts": down & oi_up,
        "leverage_buildup": up & oi_up & funding_up,
        "squeeze_risk_short": (f < cfg.squeeze_short_funding_8h) & short_skew,
        "squeeze_risk_long": (f >= cfg.squeeze_long_funding_8h) & long_skew,
        "latent_fragility": down & oi_holds & (f > 0),
    }


def liquidation_led(cfg: RegimeConfig, horizon: str = "window", bar_ms: int | None = None) -> pl.Expr:
    """True where the horizon's flush or short covering holds only because liquidations moved OI (coin
    OI held): the evidence says so."""
    return pl.col(f"oi_chg{SUFFIX[horizon]}") > -move_thresholds(cfg, horizon, bar_ms)[1]
