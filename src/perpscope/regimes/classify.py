"""Price × open interest × funding regimes, one label per bar with the numbers that produced it.

Definitions, precedence and the reasons for the thresholds: ``docs/regimes.md``; the thresholds are a
:class:`~perpscope.regimes.config.RegimeConfig`.
"""

from __future__ import annotations

import polars as pl

from perpscope.core.time import interval_label
from perpscope.regimes.config import LABELS, RegimeConfig
from perpscope.regimes.evidence_text import pct_expr, pp_expr, rate_expr, usd_expr
from perpscope.regimes.grid import SID, lagged, numbered, prepare, with_window_any, with_window_sums

#: The numeric evidence columns :func:`classify` adds (see its Returns section).
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "price_chg",
    "oi_chg",
    "funding_8h",
    "funding_chg",
    "liq_long_w_usd",
    "liq_short_w_usd",
    "liq_long_share_w",
    "liq_burst_w",
    "ls_ratio",
    "ls_z",
)

# long/short ratio kinds, in the order one is chosen as "the" positioning ratio: positions of top
# traders weigh size, accounts count heads
_LS_KINDS = ("top_positions", "global_accounts", "top_accounts")


def _num(panel: pl.DataFrame, col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Float64) if col in panel.columns else pl.lit(None, pl.Float64)


def _inputs(panel: pl.DataFrame) -> list[pl.Expr]:
    """Price, OI in coins, funding per 8h and positioning, from whichever panel columns exist."""
    close = _num(panel, "close")
    if "oi_base" in panel.columns and panel.get_column("oi_base").null_count() < panel.height:
        oi = _num(panel, "oi_base")
        if "oi_usd" in panel.columns:  # venues that report only USD: coins = USD / price
            oi = oi.fill_null(_num(panel, "oi_usd") / close)
    else:
        oi = _num(panel, "oi_usd") / close
    funding = pl.coalesce(_num(panel, "funding_rate_8h"), _num(panel, "funding_sampled_8h"))
    kinds = [k for k in _LS_KINDS if f"ls_{k}" in panel.columns]
    ls = pl.coalesce([_num(panel, f"ls_{k}") for k in kinds]) if kinds else pl.lit(None, pl.Float64)
    lz = pl.coalesce([_num(panel, f"ratio_z_{k}") for k in kinds]) if kinds else pl.lit(None, pl.Float64)
    return [
        close.alias("_close"),
        oi.alias("_oi"),
        funding.alias("funding_8h"),
        ls.alias("ls_ratio"),
        lz.alias("ls_z"),
        _num(panel, "liq_long_usd").alias("_liq_l"),
        _num(panel, "liq_short_usd").alias("_liq_s"),
        (pl.col("liq_burst") if "liq_burst" in panel.columns else pl.lit(None, pl.Boolean)).alias("_burst"),
        (pl.col("funding_extreme") if "funding_extreme" in panel.columns else pl.lit(None, pl.Int8)).alias(
            "_f_ext"
        ),
    ]


def conditions(cfg: RegimeConfig) -> dict[str, pl.Expr]:
    """The condition of each label (before precedence) as a boolean expression over the evidence columns."""
    p, o, f = pl.col("price_chg"), pl.col("oi_chg"), pl.col("funding_8h")
    up, down = p >= cfg.price_move, p <= -cfg.price_move
    oi_up, oi_down, oi_holds = o >= cfg.oi_move, o <= -cfg.oi_move, o.abs() < cfg.oi_move
    funding_up = (f >= cfg.funding_up_8h) | ((f > 0) & (pl.col("funding_chg") > 0))
    long_liqs = (pl.col("liq_long_share_w") >= cfg.flush_long_share) & (pl.col("liq_long_w_usd") > 0)
    ls, lz = pl.col("ls_ratio"), pl.col("ls_z")
    has_ls = ls.is_not_null()
    short_skew = (
        pl.when(has_ls)
        .then((ls <= cfg.ls_short_max) | (lz <= -cfg.ratio_z))
        .otherwise(
            pl.col("_f_ext") == -1  # no ratio: an extreme negative funding is the only positioning read
        )
    )
    long_skew = (
        pl.when(has_ls).then((ls >= cfg.ls_long_min) | (lz >= cfg.ratio_z)).otherwise(pl.col("_f_ext") == 1)
    )
    return {
        "deleveraging_flush": down & oi_down & long_liqs,
        "short_covering": up & oi_down,
        "new_shorts": down & oi_up,
        "leverage_buildup": up & oi_up & funding_up,
        "squeeze_risk_short": (f < cfg.squeeze_short_funding_8h) & short_skew,
        "squeeze_risk_long": (f >= cfg.squeeze_long_funding_8h) & long_skew,
        "latent_fragility": down & oi_holds & (f > 0),
    }


def _evidence(cfg: RegimeConfig) -> pl.Expr:
    w = interval_label(cfg.window_ms)
    share = (pl.col("liq_long_share_w") * 100).round(0).cast(pl.Int64).cast(pl.Utf8)
    liq = pl.concat_str(
        [
            pl.lit(", liq long "),
            usd_expr(pl.col("liq_long_w_usd")),
            pl.lit(" / short "),
            usd_expr(pl.col("liq_short_w_usd")),
            pl.lit(f" / {w}"),
            pl.when(share.is_not_null())
            .then(pl.concat_str([pl.lit(" (long "), share, pl.lit("%)")]))
            .otherwise(pl.lit("")),
            pl.when(pl.col("liq_burst_w")).then(pl.lit(", burst")).otherwise(pl.lit("")),
        ]
    )
    ls = pl.concat_str(
        [
            pl.lit(", L/S "),
            pl.col("ls_ratio").round(2).cast(pl.Utf8),
            pl.when(pl.col("ls_z").is_not_null())
            .then(pl.concat_str([pl.lit(" (z "), pl.col("ls_z").round(1).cast(pl.Utf8), pl.lit(")")]))
            .otherwise(pl.lit("")),
        ]
    )
    return pl.concat_str(
        [
            pl.lit("price "),
            pct_expr(pl.col("price_chg")),
            pl.lit(f" / {w}, OI "),
            pct_expr(pl.col("oi_chg")),
            pl.lit(f" / {w}, funding "),
            rate_expr(pl.col("funding_8h")),
            pl.lit(" per 8h (Δ "),
            pp_expr(pl.col("funding_chg")),
            pl.lit(")"),
            pl.when(pl.col("liq_long_w_usd").is_not_null()).then(liq).otherwise(pl.lit("")),
            pl.when(pl.col("ls_ratio").is_not_null()).then(ls).otherwise(pl.lit("")),
        ]
    )


def classify(
    panel: pl.DataFrame, config: RegimeConfig | None = None, *, evidence: bool = True
) -> pl.DataFrame:
    """Label every bar of every series with its price × OI × funding regime and the evidence for it.

    Parameters
    ----------
    panel : polars.DataFrame
        A metrics panel (:func:`perpscope.metrics.build_panel`): ``venue, canonical, ts_ms`` and any of
        ``close``, ``oi_base``/``oi_usd``, ``funding_rate_8h``/``funding_sampled_8h``, ``liq_long_usd``,
        ``liq_short_usd``, ``liq_burst``, ``ls_<kind>``, ``ratio_z_<kind>``, ``funding_extreme``.
    config : RegimeConfig, optional
        Windows and thresholds (defaults documented on :class:`RegimeConfig`).
    evidence : bool
        Write the ``evidence`` sentence of every bar (default). Writing numbers as text costs about four
        times the classification itself; batch runs over many symbols pass False (``evidence`` is then
        null) and let :func:`episodes` write it once per episode from the numeric columns.

    Returns
    -------
    polars.DataFrame
        One row per input bar, sorted by series and time: ``venue, canonical, ts_ms, interval_ms``
        (when the panel has it), ``regime`` (one of :data:`~perpscope.regimes.config.LABELS`),
        ``evidence`` (a sentence with the numbers), and the numeric evidence: ``price_chg`` and
        ``oi_chg`` (fractions over ``window_ms``; OI in coins, ``oi_usd / close`` where only USD is
        known), ``funding_8h`` (settled, else sampled rate per 8h) and ``funding_chg`` (its change over
        the window), ``liq_long_w_usd, liq_short_w_usd`` (liquidated USD over the window),
        ``liq_long_share_w``, ``liq_burst_w`` (a panel burst in the window), ``ls_ratio`` and ``ls_z``
        (the first of top-position, global-account, top-account long/short ratios and its z);
        ``close``, ``high``, ``low`` and ``oi`` (coins) for the episode, treadmill and breaker steps;
        and one boolean ``is_<label>`` per label: its condition, before precedence.

    Notes
    -----
    With ``Δp``, ``ΔOI`` the changes over the window and ``f`` the funding per 8h (precedence top down):

    - ``deleveraging_flush``: ``Δp ≤ −price_move``, ``ΔOI ≤ −oi_move``, long share of the window's
      liquidations ``≥ flush_long_share``;
    - ``short_covering``: ``Δp ≥ price_move``, ``ΔOI ≤ −oi_move``;
    - ``new_shorts``: ``Δp ≤ −price_move``, ``ΔOI ≥ oi_move``;
    - ``leverage_buildup``: ``Δp ≥ price_move``, ``ΔOI ≥ oi_move``, ``f ≥ funding_up_8h`` or ``f > 0``
      and rising;
    - ``squeeze_risk_short``: ``f < squeeze_short_funding_8h`` and positioning skewed short (L/S ratio
      ``≤ ls_short_max`` or its z ``≤ −ratio_z``; without ratios, ``funding_extreme = −1``);
    - ``squeeze_risk_long``: the mirror (``f ≥ squeeze_long_funding_8h``, ratio ``≥ ls_long_min`` or
      z ``≥ ratio_z``);
    - ``latent_fragility``: ``Δp ≤ −price_move``, ``|ΔOI| < oi_move``, ``f > 0``;
    - ``neutral``: none of these, or not enough history.

    Everything at ``t`` uses only bars up to ``t`` (the panel is point in time).
    """
    cfg = config or RegimeConfig()
    df, step = prepare(panel, "classify")
    keep = [c for c in (SID, "venue", "canonical", "ts_ms", "interval_ms", "high", "low") if c in df.columns]
    t = df.select(*keep, *_inputs(df))
    t = lagged(t, ["_close", "_oi", "funding_8h"], cfg.window_ms, step)
    w = cfg.window_ms
    t = with_window_sums(t, {"_liq_l": "liq_long_w_usd", "_liq_s": "liq_short_w_usd"}, w, step)
    t = with_window_any(t, "_burst", "_burst_w", w, step)
    t = t.with_columns(
        (pl.col("_close") / pl.col("_close_lag") - 1.0).alias("price_chg"),
        (pl.col("_oi") / pl.col("_oi_lag") - 1.0).alias("oi_chg"),
        (pl.col("funding_8h") - pl.col("funding_8h_lag")).alias("funding_chg"),
        pl.when(pl.col("_burst").is_not_null()).then(pl.col("_burst_w")).alias("liq_burst_w"),
    ).with_columns(
        pl.when(pl.col("liq_long_w_usd") + pl.col("liq_short_w_usd") > 0)
        .then(pl.col("liq_long_w_usd") / (pl.col("liq_long_w_usd") + pl.col("liq_short_w_usd")))
        .alias("liq_long_share_w"),
    )
    conds = conditions(cfg)
    t = t.with_columns([c.fill_null(False).alias(f"is_{k}") for k, c in conds.items()])
    label: pl.Expr = pl.lit("neutral")
    for name in reversed(LABELS[:-1]):  # built inside out so the first label in LABELS wins
        label = pl.when(pl.col(f"is_{name}")).then(pl.lit(name)).otherwise(label)
    text = _evidence(cfg) if evidence else pl.lit(None, pl.Utf8)
    t = t.with_columns(label.alias("regime"), text.alias("evidence"))
    out = t.rename({"_close": "close", "_oi": "oi"})
    lead = [c for c in ("venue", "canonical", "ts_ms", "interval_ms") if c in out.columns]
    flags = [f"is_{k}" for k in LABELS[:-1]]
    rest = [c for c in ("close", "high", "low", "oi") if c in out.columns]
    return out.select(*lead, "regime", "evidence", *EVIDENCE_COLUMNS, *rest, *flags)


def episodes(labels: pl.DataFrame, config: RegimeConfig | None = None) -> pl.DataFrame:
    """Runs of one regime merged into episodes.

    Parameters
    ----------
    labels : polars.DataFrame
        The output of :func:`classify` (at least ``venue, canonical, ts_ms, regime, evidence``).
    config : RegimeConfig, optional
        The config ``labels`` were made with; only used to write the evidence of episodes whose first
        bar has none (``classify(..., evidence=False)``).

    Returns
    -------
    polars.DataFrame
        One row per run of consecutive bars with the same label in a series: ``venue, canonical,
        regime, start_ms`` (open of its first bar), ``end_ms`` (close of its last bar: open +
        ``interval_ms``; the last bar's open when the interval is unknown), ``bars``, ``evidence`` (the
        first bar's evidence, the reading that opened the episode, and the peak numbers over it), and
        ``price_chg_max``, ``price_chg_min``, ``oi_chg_min``, ``oi_chg_max``, ``liq_long_usd``
        (the largest window sum of long liquidations in the episode).
    """
    need = ["venue", "canonical", "ts_ms", "regime", "evidence"]
    missing = [c for c in need if c not in labels.columns]
    if missing:
        raise ValueError(f"episodes: expected the output of classify(), missing columns {missing}")
    df = numbered(labels)
    new = (pl.col("regime") != pl.col("regime").shift(1)) | (pl.col(SID) != pl.col(SID).shift(1))
    # a run number flagged sorted: the group-by below takes each run as a slice
    df = df.with_columns(new.fill_null(True).cum_sum().set_sorted().alias("_run")).drop(SID)
    iv = pl.col("interval_ms").last() if "interval_ms" in df.columns else pl.lit(0)
    num = {c: c in df.columns for c in ("price_chg", "oi_chg", "liq_long_w_usd")}
    aggs = [
        pl.col("venue").first(),
        pl.col("canonical").first(),
        pl.col("regime").first(),
        pl.col("ts_ms").first().alias("start_ms"),
        (pl.col("ts_ms").last() + pl.duration(milliseconds=iv)).alias("end_ms"),
        pl.len().alias("bars"),
        pl.col("evidence").first().alias("_ev"),
    ]
    have = [c for c in (*EVIDENCE_COLUMNS, "_f_ext") if c in df.columns]
    if labels.get_column("evidence").null_count() and len(have) == len(EVIDENCE_COLUMNS):
        aggs += [pl.col(c).first() for c in have]
    if num["price_chg"]:
        aggs += [
            pl.col("price_chg").max().alias("price_chg_max"),
            pl.col("price_chg").min().alias("price_chg_min"),
        ]
    if num["oi_chg"]:
        aggs += [pl.col("oi_chg").min().alias("oi_chg_min"), pl.col("oi_chg").max().alias("oi_chg_max")]
    if num["liq_long_w_usd"]:
        aggs.append(pl.col("liq_long_w_usd").max().alias("liq_long_usd"))
    ep = df.group_by("_run", maintain_order=True).agg(aggs)
    if "price_chg" in ep.columns and ep.get_column("_ev").null_count():
        # evidence of the first bar, written once per episode (classify(evidence=False))
        ep = ep.with_columns(pl.col("_ev").fill_null(_evidence(config or RegimeConfig()))).drop(
            [c for c in EVIDENCE_COLUMNS if c in ep.columns and c not in ("price_chg",)]
        )
        ep = ep.drop("price_chg")
    bars = pl.col("bars").cast(pl.Utf8)
    plural = pl.when(pl.col("bars") == 1).then(pl.lit(" bar")).otherwise(pl.lit(" bars"))
    extra: list[pl.Expr] = [pl.lit("; over "), bars, plural]
    if num["price_chg"]:
        extra += [
            pl.lit(": price "),
            pct_expr(pl.col("price_chg_min")),
            pl.lit(" … "),
            pct_expr(pl.col("price_chg_max")),
        ]
    if num["oi_chg"]:
        extra += [
            pl.lit(", OI "),
            pct_expr(pl.col("oi_chg_min")),
            pl.lit(" … "),
            pct_expr(pl.col("oi_chg_max")),
        ]
    if num["liq_long_w_usd"]:
        liq = pl.concat_str([pl.lit(", long liq up to "), usd_expr(pl.col("liq_long_usd"))])
        extra.append(pl.when(pl.col("liq_long_usd").is_not_null()).then(liq).otherwise(pl.lit("")))
    ep = ep.with_columns(pl.concat_str([pl.lit("opened on: "), pl.col("_ev"), *extra]).alias("evidence"))
    return ep.drop("_run", "_ev").select(
        "venue",
        "canonical",
        "regime",
        "start_ms",
        "end_ms",
        "bars",
        "evidence",
        *[
            c
            for c in ep.columns
            if c
            not in ("_run", "_ev", "venue", "canonical", "regime", "start_ms", "end_ms", "bars", "evidence")
        ],
    )
