"""Flow hierarchy: is price discovery led by derivatives or by spot, and is spot big enough to matter?

Definitions and defaults: ``docs/regimes.md`` (*Flow hierarchy*).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from perpscope.metrics.flow_evidence import MAX_AGE_MS, FlowEvidence, flow_evidence
from perpscope.metrics.flows import ETF_WINDOW_SESSIONS
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
        if panel.get_column("spot_volume_usd").null_count() == 0:
            return got[0]  # every bar's (the taker volumes would be computed in full for nothing)
    if "spot_taker_delta_usd" in panel.columns and "spot_taker_imbalance" in panel.columns:
        imb = pl.col("spot_taker_imbalance")
        got.append(pl.when(imb != 0).then((pl.col("spot_taker_delta_usd") / imb).abs()))
    return pl.coalesce(got) if got else pl.lit(None, pl.Float64)


def _rolling_corr(x: np.ndarray, t: pl.DataFrame, y: str, n: int, name: str, starts: np.ndarray) -> pl.Series:
    """``name``: the Pearson correlation of ``x`` (float64, NaN for null) and the column ``y`` of ``t``
    over the last ``n`` rows of each series (pairs with both; a full window and at least half of it
    paired, three pairs at least)."""
    return to_series(name, grid_corr(x, as_float(t, y), starts, n, max(3, n // 2)))


def flow_hierarchy(
    panel: pl.DataFrame, config: RegimeConfig | None = None, *, flows: FlowInputs | None = None
) -> pl.DataFrame:
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
        otherwise; null without both flows). With ``flows``: ``etf_5d_usd`` (US spot ETF net flow of the
        last 5 sessions, USD), ``stablecoin_7d`` (stablecoin supply change over 7 days, fraction),
        ``perp_spot_ratio_1d`` (perp / spot volume of the last 24 h from 1h candles, same venue) and
        ``cme_lev_net_base`` (CME leveraged funds net, BTC), each as public at the bar's end.

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
    ret = as_float(t, "_ret")  # read once for both correlations
    t = t.with_columns(
        _rolling_corr(ret, t, "_pi", n, "perp_flow_corr", starts),
        _rolling_corr(ret, t, "_si", n, "spot_flow_corr", starts),
    )
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
    out = t.select(*KEYS, "ts_ms", *FLOW_COLUMNS)
    return with_flow_inputs(out, step, flows) if flows is not None else out


@dataclass(frozen=True)
class FlowInputs:
    """The spot and institutional side of the ledger, as the regime engine reads it.

    Each frame is optional and keeps its ``known_ms`` (the instant it became public): ETF flows
    (:func:`perpscope.metrics.flows.etf_flows`), stablecoin supply change
    (:func:`~perpscope.metrics.flows.stablecoin_change`), the perp/spot volume ratio from candles
    (:func:`perpscope.metrics.flow_evidence.perp_spot_daily`) and CME positioning
    (:func:`~perpscope.metrics.flows.cme_positioning`). An absent frame is a missing input, named as such
    in the evidence — never read as a neutral flow.
    """

    etf: pl.DataFrame | None = None
    stablecoins: pl.DataFrame | None = None
    perp_spot: pl.DataFrame | None = None
    cme: pl.DataFrame | None = None

    def at(self, t_ms: int) -> FlowEvidence:
        """The evidence public at ``t_ms`` (int ms UTC), by
        :func:`~perpscope.metrics.flow_evidence.flow_evidence`."""
        return flow_evidence(
            t_ms, etf=self.etf, stablecoins=self.stablecoins, perp_spot=self.perp_spot, cme=self.cme
        )


#: Per-bar flow columns :func:`flow_hierarchy` adds when given :class:`FlowInputs` (each the last value
#: public by the bar's end and not older than its ``MAX_AGE_MS``; null otherwise).
FLOW_INPUT_COLUMNS: tuple[str, ...] = (
    "etf_5d_usd",
    "stablecoin_7d",
    "perp_spot_ratio_1d",
    "cme_lev_net_base",
)

_INPUT_SOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("etf", "etf", f"flow_{ETF_WINDOW_SESSIONS}d_usd", "etf_5d_usd"),
    ("stablecoins", "stablecoins", "change_7d", "stablecoin_7d"),
    ("perp_spot", "perp_spot", "perp_spot_ratio", "perp_spot_ratio_1d"),
    ("cme", "cme", "lev_net_base", "cme_lev_net_base"),
)


def _stablecoin_total(frame: pl.DataFrame) -> pl.DataFrame:
    """All coins' rows (``ALL``) when the frame has them, else the frame (one coin)."""
    if "symbol" in frame.columns and (frame["symbol"] == "ALL").any():
        return frame.filter(pl.col("symbol") == "ALL")
    return frame


def with_flow_inputs(t: pl.DataFrame, step_ms: int, flows: FlowInputs) -> pl.DataFrame:
    """``t`` (``ts_ms`` = bar open) with :data:`FLOW_INPUT_COLUMNS`: each input's last value public by the
    bar's end (``known_ms <= ts + step``), null when none or older than its maximum age
    (:data:`perpscope.metrics.flow_evidence.MAX_AGE_MS`)."""
    end = (pl.col("ts_ms").dt.epoch("ms") + step_ms).alias("_end")
    out = t.with_columns(end).with_row_index("_row")
    for attr, age_key, src, name in _INPUT_SOURCES:
        frame = getattr(flows, attr)
        if frame is None or frame.height == 0 or src not in frame.columns:
            out = out.with_columns(pl.lit(None, pl.Float64).alias(name))
            continue
        if attr == "stablecoins":
            frame = _stablecoin_total(frame)
        r = (
            frame.filter(pl.col(src).is_not_null())
            .select(pl.col("known_ms").dt.epoch("ms").alias("_k"), pl.col(src).cast(pl.Float64).alias(name))
            .sort("_k")
        )
        out = (
            out.sort("_end")
            .join_asof(r, left_on="_end", right_on="_k", strategy="backward", check_sortedness=False)
            .with_columns(
                pl.when(pl.col("_end") - pl.col("_k") <= MAX_AGE_MS[age_key]).then(pl.col(name)).alias(name)
            )
            .drop("_k")
        )
    return out.sort("_row").drop("_row", "_end")
