"""Flow hierarchy: is price discovery led by derivatives or by spot, and is spot big enough to matter?

Definitions and defaults: ``docs/regimes.md`` (*Flow hierarchy*).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from perpscope.metrics.frames import KEYS
from perpscope.metrics.grid_windows import as_float, grid_corr, grid_sum, series_starts, to_series
from perpscope.regimes.config import RegimeConfig
from perpscope.regimes.grid import SID, prepare, rows_in

FLOW_COLUMNS: tuple[str, ...] = (
    "perp_volume_w_usd",
    "spot_volume_w_usd",
    "spot_perp_ratio_w",
    "structural_imbalance",
    "perp_flow_corr",
    "spot_flow_corr",
    "leader",
)


def spot_volume(panel: pl.DataFrame) -> pl.Expr:
    """Spot volume per bar, USD: ``spot_volume_usd``, else the spot taker buy + sell volume.

    Notes
    -----
    Where only spot taker volume is known (CoinGlass's spot taker series), ``buy + sell`` is recovered
    exactly from the panel's ``spot_taker_delta_usd = buy − sell`` and ``spot_taker_imbalance =
    (buy − sell) / (buy + sell)``; a bar with no imbalance (buy = sell) has no recoverable volume (null).
    """
    got: list[pl.Expr] = []
    if "spot_volume_usd" in panel.columns:
        got.append(pl.col("spot_volume_usd").cast(pl.Float64))
    if "spot_taker_delta_usd" in panel.columns and "spot_taker_imbalance" in panel.columns:
        imb = pl.col("spot_taker_imbalance")
        got.append(pl.when(imb != 0).then((pl.col("spot_taker_delta_usd") / imb).abs()))
    return pl.coalesce(got) if got else pl.lit(None, pl.Float64)


def _with_rolling_corr(
    t: pl.DataFrame, x: str, y: str, n: int, name: str, starts: np.ndarray
) -> pl.DataFrame:
    """``t`` with ``name`` = the Pearson correlation of ``x`` and ``y`` over the last ``n`` rows of each
    series (pairs with both; a full window and at least half of it paired, three pairs at least)."""
    corr = grid_corr(as_float(t, x), as_float(t, y), starts, n, max(3, n // 2))
    return t.with_columns(to_series(name, corr))


def flow_hierarchy(panel: pl.DataFrame, config: RegimeConfig | None = None) -> pl.DataFrame:
    """Derivatives-led vs spot-led price discovery and the structural-imbalance warning, per bar.

    Parameters
    ----------
    panel : polars.DataFrame
        A metrics panel with ``close`` and, for the answers, ``volume_usd``, ``taker_imbalance`` and the
        spot columns (``spot_volume_usd`` or ``spot_taker_delta_usd`` + ``spot_taker_imbalance``).
    config : RegimeConfig, optional
        ``flow_window_ms`` (default 7 days), ``structural_ratio`` (0.2), ``lead_margin`` (0.1).

    Returns
    -------
    polars.DataFrame
        ``venue, canonical, ts_ms`` and, over the bars opening in ``(t − flow_window, t]``:
        ``perp_volume_w_usd``, ``spot_volume_w_usd``, ``spot_perp_ratio_w`` (spot / perp volume),
        ``structural_imbalance`` (ratio ``< structural_ratio``: spot is too thin for derivatives signals
        to be read as the market's), ``perp_flow_corr`` and ``spot_flow_corr`` (correlation of the bar's
        log return with the perp and the spot taker imbalance), ``leader`` (``"derivatives"`` when the
        perp correlation exceeds the spot one by ``lead_margin``, ``"spot"`` for the mirror, ``"mixed"``
        otherwise; null without both flows).

    Notes
    -----
    The market whose aggressive flow moves with the price bar by bar is the one discovering it
    (Hasbrouck's information-share idea reduced to a correlation: a proxy, not a structural model).
    Windows are counted in bars on the panel's gapless grid (``flow_window / step``); the correlations
    need a full window (null over a series' first ``flow_window``).
    """
    cfg = config or RegimeConfig()
    df, step = prepare(panel, "flow_hierarchy")
    if step is None:
        step = int(df.get_column("interval_ms").min()) if "interval_ms" in df.columns else None  # type: ignore[arg-type]
    if step is None:
        raise ValueError("flow_hierarchy: the panel has no regular bar step and no interval_ms column")
    n = rows_in(cfg.flow_window_ms, step)
    perp = pl.col("volume_usd").cast(pl.Float64) if "volume_usd" in df.columns else pl.lit(None, pl.Float64)
    close = pl.col("close") if "close" in df.columns else pl.lit(None, pl.Float64)
    t = df.select(
        SID,
        *KEYS,
        "ts_ms",
        perp.alias("_pv"),
        spot_volume(df).alias("_sv"),
        pl.when(pl.col(SID) == pl.col(SID).shift(1)).then(close / close.shift(1)).log().alias("_ret"),
        (pl.col("taker_imbalance") if "taker_imbalance" in df.columns else pl.lit(None, pl.Float64)).alias(
            "_pi"
        ),
        (
            pl.col("spot_taker_imbalance")
            if "spot_taker_imbalance" in df.columns
            else pl.lit(None, pl.Float64)
        ).alias("_si"),
    )
    both = pl.col("_pv").is_not_null() & pl.col("_sv").is_not_null()
    starts = series_starts(t, [SID])
    t = t.with_columns(
        to_series(name, grid_sum(as_float(t, pl.when(both).then(pl.col(c))), starts, n))
        for c, name in (("_pv", "perp_volume_w_usd"), ("_sv", "spot_volume_w_usd"))
    )
    t = _with_rolling_corr(t, "_ret", "_pi", n, "perp_flow_corr", starts)
    t = _with_rolling_corr(t, "_ret", "_si", n, "spot_flow_corr", starts)
    ratio = pl.when(pl.col("perp_volume_w_usd") > 0).then(
        pl.col("spot_volume_w_usd") / pl.col("perp_volume_w_usd")
    )
    d = pl.col("perp_flow_corr") - pl.col("spot_flow_corr")
    t = t.with_columns(ratio.alias("spot_perp_ratio_w")).with_columns(
        (pl.col("spot_perp_ratio_w") < cfg.structural_ratio).alias("structural_imbalance"),
        pl.when(d.is_null())
        .then(pl.lit(None, pl.Utf8))
        .when(d >= cfg.lead_margin)
        .then(pl.lit("derivatives"))
        .when(d <= -cfg.lead_margin)
        .then(pl.lit("spot"))
        .otherwise(pl.lit("mixed"))
        .alias("leader"),
    )
    return t.select(*KEYS, "ts_ms", *FLOW_COLUMNS)
