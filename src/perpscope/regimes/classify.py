"""Price × open interest × funding regimes, one label per bar with the numbers that produced it.

Definitions, precedence and the reasons for the thresholds: ``docs/regimes.md``; the thresholds are a
:class:`~perpscope.regimes.config.RegimeConfig`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl

from perpscope.core.time import interval_label
from perpscope.metrics import arrow_buffers as ab
from perpscope.regimes.bursts import BURST_RATIO, with_burst_ratio
from perpscope.regimes.config import LABELS, RegimeConfig
from perpscope.regimes.episode_text import (
    FIRST_BAR,
    FLAGS,
    PICKED,
    TEXTS,
    bitmap_rows,
    episode_table,
    evidences,
    openings,
    run_starts,
    strings,
    summaries,
    view_words,
)
from perpscope.regimes.evidence_text import pct_expr, pp_expr, rate_expr, usd_expr
from perpscope.regimes.grid import SID, first_known, hand_over_numbering, numbered, prepare
from perpscope.regimes.grid_labels import with_grid_labels
from perpscope.regimes.horizons import DIRECTION, PER_HORIZON, SUFFIX, liquidation_led, names, with_changes
from perpscope.regimes.horizons import conditions as horizon_conditions
from perpscope.regimes.run_ranges import float_series, run_ranges

#: The numeric evidence columns :func:`classify` adds (see its Returns section).
EVIDENCE_COLUMNS: tuple[str, ...] = (
    *PER_HORIZON,
    "funding_8h",
    "funding_chg",
    "ls_ratio",
    "ls_z",
    *(f"{c}{SUFFIX[h]}" for h in ("bar", "long") for c in PER_HORIZON),
    BURST_RATIO,
    "horizon",
    "liquidation_led",
    "partial",
    "missing",
    "horizon_key",
)

#: Label columns per horizon (before the horizons are combined into ``regime``).
HORIZON_LABELS: tuple[str, ...] = ("regime_bar", "regime_window", "regime_long")

# long/short ratio kinds, in the order one is chosen as "the" positioning ratio: positions of top
# traders weigh size, accounts count heads
_LS_KINDS = ("top_positions", "global_accounts", "top_accounts")

# the order the horizons' labels are taken in: the window's (the documented main reading, dated to the
# bar), the bar's own (an event the day's changes have not crossed yet), an event of the long window (a
# flush or covering dated to its bar), a state of the window held from an earlier bar (it yields to any
# of these), then the long window's labels with its held states (a slow move). (column suffix, horizon)
_ORDER: tuple[tuple[str, str], ...] = (
    ("window", "window"),
    ("bar", "bar"),
    ("long_event", "long"),
    ("window_held", "window"),
    ("long_held", "long"),
)


def _num(panel: pl.DataFrame, col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Float64) if col in panel.columns else pl.lit(None, pl.Float64)


def _inputs(panel: pl.DataFrame) -> list[pl.Expr]:
    """Price, OI in coins and in USD, funding per 8h and positioning, from whichever panel columns exist."""
    close = _num(panel, "close")
    # a fill or coalesce is left out where the first column has no null (polars computes its other
    # arguments in full): the same values, a pass over the rows less for each
    nulls = {c: panel.get_column(c).null_count() for c in ("oi_base", "oi_usd") if c in panel.columns}
    if nulls.get("oi_base", panel.height) < panel.height:
        oi = _num(panel, "oi_base")
        if "oi_usd" in panel.columns and nulls["oi_base"]:  # venues that report only USD: coins = USD / price
            oi = oi.fill_null(_num(panel, "oi_usd") / close)
    else:
        oi = _num(panel, "oi_usd") / close
    oi_usd = _num(panel, "oi_usd")
    if nulls.get("oi_usd", 1):
        oi_usd = pl.coalesce(oi_usd, _num(panel, "oi_base") * close)
    funding = first_known(panel, ["funding_rate_8h", "funding_sampled_8h"])
    kinds = [k for k in _LS_KINDS if f"ls_{k}" in panel.columns]
    ls = first_known(panel, [f"ls_{k}" for k in kinds])
    lz = first_known(panel, [f"ratio_z_{k}" for k in kinds])
    complete = pl.col("complete") if "complete" in panel.columns else pl.lit(True)
    return [
        close.alias("_close"),
        oi.alias("_oi"),
        oi_usd.alias("_oi_usd"),
        funding.alias("funding_8h"),
        ls.alias("ls_ratio"),
        lz.alias("ls_z"),
        _num(panel, "liq_long_usd").alias("_liq_l"),
        _num(panel, "liq_short_usd").alias("_liq_s"),
        (pl.col("funding_extreme") if "funding_extreme" in panel.columns else pl.lit(None, pl.Int8)).alias(
            "_f_ext"
        ),
        (~complete.fill_null(True)).alias("partial"),
        *([pl.col("liq_burst").alias("_panel_burst")] if "liq_burst" in panel.columns else []),
    ]


def conditions(cfg: RegimeConfig) -> dict[str, pl.Expr]:
    """The condition of each label (before precedence) over the window's evidence columns."""
    return horizon_conditions(cfg, "window")


#: Label → its code (index in :data:`LABELS`): labels are chosen as small integers and written as text
#: once (a chain of string branches per horizon cost ten times the rest of classify).
_CODE: dict[str, int] = {k: i for i, k in enumerate(LABELS)}


def _label(conds: dict[str, pl.Expr]) -> pl.Expr:
    """The code of the first label of :data:`LABELS` whose condition holds, else null."""
    label: pl.Expr = pl.lit(None, pl.Int8)
    for name in reversed(LABELS[:-2]):  # built inside out so the first label in LABELS wins
        label = pl.when(conds[name]).then(pl.lit(_CODE[name], pl.Int8)).otherwise(label)
    return label


def _text(code: pl.Expr) -> pl.Expr:
    """Label codes → label names."""
    return code.replace_strict(dict(enumerate(LABELS)), default=None, return_dtype=pl.Utf8)


def _dated(label: pl.Expr, flush_long_share: float, *, close_too: bool = False) -> pl.Expr:
    """``label`` kept only on the bars where its event happened: a label read over a day or three is not
    smeared over every bar the window still holds (the rebound bars after a crash are not the flush).

    A flush is made of liquidations: it is dated to bars that carry a busy bar's worth of their own (at
    least the burst quantile of the month, ``liq_burst_ratio ≥ 1``), whichever way the bar closed (a
    bar can liquidate longs on a wick and close up). Where the bar's liquidations are unknown, and for
    the other labels with a direction (:data:`DIRECTION`), the bar's own close must have moved the
    label's way. A flush's bar must also not have liquidated mostly shorts (long share of its own
    liquidations at least ``1 − flush_long_share``); with ``close_too`` (the long window, whose
    flush can be days old) its bar must also have closed down (12 Oct 2025 20:00 read the 3 days' flush
    of the 10th on a bar that closed up).
    """
    ret = pl.col("_close") - pl.col("_close_lag_bar")
    down = [_CODE[k] for k, v in DIRECTION.items() if v < 0]
    up = [_CODE[k] for k, v in DIRECTION.items() if v > 0]
    wrong = (label.is_in(down) & ~(ret < 0).fill_null(False)) | (
        label.is_in(up) & ~(ret > 0).fill_null(False)
    )
    ratio = pl.col(BURST_RATIO)
    flush = label == _CODE["deleveraging_flush"]
    # ... and whose own liquidations were not mostly shorts (a rally bar liquidating shorts, 12 Oct 2025
    # 12:00, is not where a flush the 3 days still hold happened)
    longs = (pl.col("liq_long_share_w_bar") >= 1 - flush_long_share).fill_null(False)
    liq_ok = (ratio >= 1) & longs & (~wrong if close_too else pl.lit(True))
    keep = pl.when(flush & ratio.is_not_null()).then(liq_ok).otherwise(~wrong)
    return pl.when(keep.fill_null(False)).then(label).otherwise(pl.lit(None, pl.Int8))


def _pick(col: str) -> pl.Expr:
    """The value of ``col`` at the horizon the bar's label was read over."""
    h = pl.col("horizon_key")
    return (
        pl.when(h == "bar")
        .then(pl.col(f"{col}{SUFFIX['bar']}"))
        .when(h == "long")
        .then(pl.col(f"{col}{SUFFIX['long']}"))
        .otherwise(pl.col(col))
    )


def _burst_text(cfg: RegimeConfig) -> str:
    base, q = interval_label(cfg.burst_baseline_ms), f"p{cfg.burst_quantile * 100:.0f}"
    return f", burst (a bar ≥ {cfg.burst_ratio:g}× its {base} {q})"


def _evidence(cfg: RegimeConfig) -> pl.Expr:
    """The sentence of a bar: the numbers of the horizon its label was read over, named."""
    share = (_pick("liq_long_share_w") * 100).round(0).cast(pl.Int64).cast(pl.Utf8)
    liq = pl.concat_str(
        [
            pl.lit(", liq long "),
            usd_expr(_pick("liq_long_w_usd")),
            pl.lit(" / short "),
            usd_expr(_pick("liq_short_w_usd")),
            pl.when(share.is_not_null())
            .then(pl.concat_str([pl.lit(" (long "), share, pl.lit("%)")]))
            .otherwise(pl.lit("")),
            pl.when(_pick("liq_burst_w").fill_null(False))
            .then(pl.lit(_burst_text(cfg)))
            .otherwise(pl.lit("")),
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
    w = interval_label(cfg.window_ms)
    return pl.concat_str(
        [
            pl.lit("over "),
            pl.col("horizon"),
            pl.lit(": price "),
            pct_expr(_pick("price_chg")),
            pl.lit(", OI "),
            pct_expr(_pick("oi_chg")),
            pl.lit(" in coins, "),
            pct_expr(_pick("oi_usd_chg")),
            pl.lit(" in USD"),
            pl.when(_pick("liq_long_w_usd").is_not_null()).then(liq).otherwise(pl.lit("")),
            pl.lit("; funding "),
            rate_expr(pl.col("funding_8h")),
            pl.lit(f" per 8h (Δ {w} "),
            pp_expr(pl.col("funding_chg")),
            pl.lit(")"),
            pl.when(pl.col("ls_ratio").is_not_null()).then(ls).otherwise(pl.lit("")),
            pl.when(pl.col("liquidation_led"))
            .then(
                pl.when(pl.col("regime") == "deleveraging_flush")
                .then(
                    pl.lit(
                        "; liquidation-led: OI in coins held while OI in USD fell — new shorts took "
                        "the liquidated longs' side"
                    )
                )
                .otherwise(
                    pl.lit("; liquidation-led: shorts liquidated into the rally, no new positions in coins")
                )
            )
            .otherwise(pl.lit("")),
            pl.when(pl.col("missing").is_not_null())
            .then(pl.concat_str([pl.lit("; insufficient data: no "), pl.col("missing")]))
            .otherwise(pl.lit("")),
            pl.when(pl.col("partial")).then(pl.lit("; bar not complete (partial)")).otherwise(pl.lit("")),
        ]
    )


def _missing() -> pl.Expr:
    """What the window's reading lacks (``"price change, OI, funding"``), null when nothing."""
    parts = [
        pl.when(pl.col("price_chg").is_null()).then(pl.lit("price change")),
        pl.when(pl.col("oi_chg").is_null() & pl.col("oi_usd_chg").is_null()).then(pl.lit("OI")),
        pl.when(pl.col("funding_8h").is_null()).then(pl.lit("funding")),
    ]
    text = pl.concat_str(parts, separator=", ", ignore_nulls=True)
    return pl.when(text != "").then(text)


def _bar_ms(df: pl.DataFrame, step: int | None, cfg: RegimeConfig) -> int:
    """The bar's length: the grid step, else the panel's ``interval_ms``, else the median gap."""
    if step is not None:
        return step
    if "interval_ms" in df.columns and df.get_column("interval_ms").null_count() < df.height:
        return int(df.get_column("interval_ms").median())  # type: ignore[arg-type]
    ts = df.get_column("ts_ms").dt.epoch("ms")
    d = ts.diff().drop_nulls().filter(ts.diff().drop_nulls() > 0)
    return int(d.median()) if d.len() else cfg.window_ms  # type: ignore[arg-type]


def classify(
    panel: pl.DataFrame, config: RegimeConfig | None = None, *, evidence: bool = True
) -> pl.DataFrame:
    """Label every bar of every series with its price × OI × funding regime and the evidence for it.

    Parameters
    ----------
    panel : polars.DataFrame
        A metrics panel (:func:`perpscope.metrics.build_panel`): ``venue, canonical, ts_ms`` and any of
        ``close``, ``oi_base``/``oi_usd``, ``funding_rate_8h``/``funding_sampled_8h``, ``liq_long_usd``,
        ``liq_short_usd``, ``ls_<kind>``, ``ratio_z_<kind>``, ``funding_extreme``, ``complete``.
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
        ``evidence`` (a sentence with the numbers, naming the horizon they were read over), the label of
        each horizon (``regime_bar``, ``regime_window``, ``regime_long``; null where none held) and the
        numeric evidence: per horizon (no suffix: the window, ``_bar``: the bar itself, ``_long``: the
        long window) ``price_chg``, ``oi_chg`` (coins; ``oi_usd / close`` where only USD is known),
        ``oi_usd_chg`` (USD), ``liq_long_w_usd, liq_short_w_usd`` (liquidated USD over the horizon),
        ``liq_long_share_w``, ``liq_burst_w`` (a burst bar in the horizon); ``funding_8h`` (settled, else
        sampled rate per 8h) and ``funding_chg`` (its change over the window), ``ls_ratio, ls_z``;
        ``liq_burst_ratio`` (the bar's liquidations / the rolling quantile of the series' bars),
        ``horizon`` (``bar``, ``1d``, ``3d``: what the label was read over), ``liquidation_led``
        (a flush or covering with coin OI held), ``partial`` (the bar is not complete), ``missing``
        (what the reading lacks, e.g. ``"OI, funding"``); ``close``, ``high``, ``low`` and ``oi``
        (coins) for the episode, treadmill and breaker steps; and one boolean ``is_<label>`` per label:
        its condition over the window, before precedence and dating.

    Notes
    -----
    Each horizon is labelled by the same rules (docs/regimes.md, move thresholds scaled by
    ``√(horizon / window)``); the labels of the window and the long window are dated to a bar only when
    the bar's own close moved their way (dated where it happened); their states (new shorts, build-up,
    fragility) are then held while their condition holds with the price threshold at ``hold_share`` of
    the entry's (hysteresis). ``regime`` is the window's dated label, else the bar's, else a flush or
    covering of the long window, else the window's held state, else the long window's label; else
    ``insufficient_data`` when price, OI or funding is missing, else ``neutral``. Everything at ``t``
    uses only bars up to ``t`` (the panel is point in time). On a gapless grid the columns are computed
    by compiled loops (:mod:`perpscope.regimes.grid_labels`), frame-equal to the polars steps that
    define them (:func:`_with_steps`).
    """
    cfg = config or RegimeConfig()
    t, step = _working_frame(panel)
    bar_ms = _bar_ms(t, step, cfg)
    # a gapless grid: the same numbers in one compiled pass (grid_labels), unless it declines the frame
    grid = with_grid_labels(t, cfg, step) if step is not None else None
    t = grid if grid is not None else _with_steps(t, cfg, step, bar_ms)
    if not evidence:
        t = t.with_columns(pl.lit(None, pl.Utf8).alias("evidence"))
    else:
        # the sentences written by episode_text's compiled loop from the numbers (byte for byte
        # :func:`_evidence`, which writes the rows the loop declines): a third of the polars text's cost
        t = t.with_columns(pl.lit(None, pl.Utf8).alias("_ev"))
        t = t.with_columns(_written(t, cfg).alias("evidence"))
    out = _public(t)
    # the labels' rows are the working frame's: the next steps of a shared preparation read its numbering
    hand_over_numbering(out, t.get_column(SID), step)
    return out


def _working_frame(panel: pl.DataFrame) -> tuple[pl.DataFrame, int | None]:
    """The panel sorted and numbered (:func:`prepare`) with classify's inputs (:func:`_inputs`), and its
    bar step when it is a gapless grid."""
    df, step = prepare(panel, "classify")
    keep = [c for c in (SID, "venue", "canonical", "ts_ms", "interval_ms", "high", "low") if c in df.columns]
    return df.select(*keep, *_inputs(df)), step


# The steps of classify, in order. Each takes the working frame and returns it with its columns added.


def _with_steps(t: pl.DataFrame, cfg: RegimeConfig, step: int | None, bar_ms: int) -> pl.DataFrame:
    """Every step of classify as polars expressions: the definition (grid_labels compiles it)."""
    t = _with_bursts(t, cfg, step)
    t = with_changes(t, cfg, step, bar_ms)
    t = _with_conditions(t, cfg, bar_ms)
    t = _with_horizon_labels(t, cfg)
    t = _with_held_states(t, cfg, bar_ms)
    t = _with_regime(t, cfg)
    return _with_liquidation_led(t, cfg, bar_ms)


#: Per horizon, the name pattern of its condition columns (the window's are the public ``is_<label>``).
_COND_NAMES: dict[str, str] = {"window": "is_{}", "bar": "_bar_is_{}", "long": "_long_is_{}"}


def _with_bursts(t: pl.DataFrame, cfg: RegimeConfig, step: int | None) -> pl.DataFrame:
    """``_liq`` (long + short USD of the bar), :data:`BURST_RATIO` and ``_burst`` (the bar is a burst)."""
    t = with_burst_ratio(
        t.with_columns((pl.col("_liq_l") + pl.col("_liq_s")).alias("_liq")),
        "_liq",
        cfg.burst_baseline_ms,
        step,
        cfg.burst_quantile,
    )
    # where the frame holds too little history for the quantile (a panel cut to a few days), the
    # panel's own burst flag (a z-score over its 30-day look-back) stands in
    panel_burst = pl.col("_panel_burst") if "_panel_burst" in t.columns else pl.lit(None, pl.Boolean)
    return t.with_columns(
        pl.when(pl.col("_liq").is_null())
        .then(pl.lit(None, pl.Boolean))
        .when(pl.col(BURST_RATIO).is_not_null())
        .then(pl.col(BURST_RATIO) >= cfg.burst_ratio)
        .otherwise(panel_burst.fill_null(False))
        .alias("_burst")
    )


def _with_conditions(t: pl.DataFrame, cfg: RegimeConfig, bar_ms: int) -> pl.DataFrame:
    """Each horizon's label conditions as boolean columns (:data:`_COND_NAMES`), written once: built as
    nested expressions inside the label choice, polars evaluated them ten times slower."""
    return t.with_columns(
        c.fill_null(False).alias(_COND_NAMES[h].format(k))
        for h in _COND_NAMES
        for k, c in horizon_conditions(cfg, h, bar_ms).items()
    )


def _with_horizon_labels(t: pl.DataFrame, cfg: RegimeConfig) -> pl.DataFrame:
    """``_code_<horizon>``: each horizon's label code by precedence, the window's and the long window's
    dated to the bars where their event happened (:func:`_dated`)."""

    def cols(h: str) -> dict[str, pl.Expr]:
        return {k: pl.col(_COND_NAMES[h].format(k)) for k in LABELS[:-2]}

    per = {
        "bar": _label(cols("bar")),
        "window": _dated(_label(cols("window")), cfg.flush_long_share),
        "long": _dated(_label(cols("long")), cfg.flush_long_share, close_too=True),
    }
    return t.with_columns(per[h].alias(f"_code_{h}") for h in ("bar", "window", "long"))


#: The labels that describe a state over the window rather than an event on a bar: once dated to the bar
#: where they began they are held with hysteresis (:func:`_with_held_states`). Flushes and short
#: coverings are events and stay dated to their bars.
HELD_STATES: tuple[str, ...] = ("new_shorts", "leverage_buildup", "latent_fragility")


def _with_held_states(t: pl.DataFrame, cfg: RegimeConfig, bar_ms: int) -> pl.DataFrame:
    """``_code_window_held``, ``_code_long_held``: the window's and the long window's labels with their
    states (:data:`HELD_STATES`) held with hysteresis, and ``_code_long_event`` (the long window's flush
    or covering, which a held state does not hide): a
    state is entered where :func:`_dated` put it (its condition at the entry thresholds, on a bar whose
    own close moved its way) and held on the next bars while its condition still holds with the price
    threshold at ``hold_share`` of the entry's, whichever way those bars closed.

    Why: dated bar by bar, a state over a day read on 1h bars followed the sign of each bar's own
    close — BTC 1h alternated neutral → latent_fragility → neutral 355 times in 450 days. A state
    ends when its move has mostly gone (half of it), not at the next up-tick. A held state yields to
    any label read on the bar itself and to a flush or covering of any horizon (:data:`_ORDER`: events
    stay dated to their bars); it resumes after them while it holds.
    """
    relaxed = replace(cfg, price_move=cfg.price_move * cfg.hold_share)
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    start = (pl.col(SID) != pl.col(SID).shift(1)).fill_null(True)
    out = []
    for h in ("window", "long"):
        keep = horizon_conditions(relaxed, h, bar_ms)
        code = pl.col(f"_code_{h}")
        held: list[pl.Expr] = []
        for name in HELD_STATES:
            k = keep[name].fill_null(False)
            entered = (code == _CODE[name]).fill_null(False)
            # held where the relaxed condition holds and the last entry is no older than the last bar
            # where it did not (or the series' first bar): row numbers carried forward, no group-by
            last_in = pl.when(entered).then(row).forward_fill()
            last_out = pl.when(~k | start).then(row).forward_fill()
            held.append(pl.when(k & (last_in >= last_out)).then(pl.lit(_CODE[name], pl.Int8)))
        # the first label in precedence order wins (codes are precedence ranks)
        out.append(pl.min_horizontal(code, *held).alias(f"_code_{h}_held"))
    events = [_CODE["deleveraging_flush"], _CODE["short_covering"]]
    long_event = pl.when(pl.col("_code_long").is_in(events)).then(pl.col("_code_long"))
    return t.with_columns(*out, long_event.alias("_code_long_event"))


def _with_regime(t: pl.DataFrame, cfg: RegimeConfig) -> pl.DataFrame:
    """``regime`` (the first horizon of :data:`_ORDER` with a label, else ``insufficient_data`` where an
    input is missing, else ``neutral``), ``horizon_key``/``horizon`` (which one), ``missing`` and the
    text label of each horizon (``regime_bar``, ``regime_window``, ``regime_long``)."""
    key: pl.Expr = pl.lit(None, pl.Utf8)
    for c, h in reversed(_ORDER):
        key = pl.when(pl.col(f"_code_{c}").is_not_null()).then(pl.lit(h)).otherwise(key)
    t = t.with_columns(key.alias("horizon_key"), _missing().alias("missing"))
    code = pl.coalesce([pl.col(f"_code_{c}") for c, _ in _ORDER])
    fallback = (
        pl.when(pl.col("missing").is_not_null())
        .then(pl.lit(_CODE["insufficient_data"], pl.Int8))
        .otherwise(pl.lit(_CODE["neutral"], pl.Int8))
    )
    per = {"bar": "_code_bar", "window": "_code_window_held", "long": "_code_long_held"}
    t = t.with_columns(_text(pl.col(c)).alias(f"regime_{h}") for h, c in per.items())
    return t.with_columns(
        _text(pl.coalesce(code, fallback)).alias("regime"),
        pl.col("horizon_key")
        .fill_null("window")
        .replace_strict(names(cfg), return_dtype=pl.Utf8)
        .alias("horizon"),
    )


def _with_liquidation_led(t: pl.DataFrame, cfg: RegimeConfig, bar_ms: int) -> pl.DataFrame:
    """``liquidation_led``: the bar's flush or covering held, over its horizon, only because
    liquidations moved OI (coins held)."""
    led = {h: liquidation_led(cfg, h, bar_ms) for h in names(cfg)}
    is_led = pl.coalesce(pl.when(pl.col("horizon_key") == h).then(led[h]) for h in led)
    return t.with_columns(
        (pl.col("regime").is_in(["deleveraging_flush", "short_covering"]) & is_led.fill_null(False)).alias(
            "liquidation_led"
        )
    )


def _public(t: pl.DataFrame) -> pl.DataFrame:
    """The columns :func:`classify` returns, in its documented order."""
    out = t.rename({"_close": "close", "_oi": "oi"})
    lead = [c for c in ("venue", "canonical", "ts_ms", "interval_ms") if c in out.columns]
    flags = [f"is_{k}" for k in LABELS[:-2]]
    rest = [c for c in ("close", "high", "low", "oi") if c in out.columns]
    return out.select(*lead, "regime", "evidence", *HORIZON_LABELS, *EVIDENCE_COLUMNS, *rest, *flags)


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
    cfg = config or RegimeConfig()
    fast = _episodes_in_place(df, cfg)
    if fast is not None:
        return fast
    new = (pl.col("regime") != pl.col("regime").shift(1)) | (pl.col(SID) != pl.col(SID).shift(1))
    ep = _runs(df, new.fill_null(True), labels.get_column("evidence").null_count() > 0)
    num = {c: c in df.columns for c in ("price_chg", "oi_chg", "liq_long_w_usd")}
    evidence_cols = [c for c in EVIDENCE_COLUMNS if c in ep.columns]
    if "price_chg" in ep.columns and ep.get_column("_ev").null_count() == ep.height:
        # classify(evidence=False): every episode's whole evidence written once, opening and summary
        ep = ep.with_columns(_written_whole(ep, num, cfg)).drop(evidence_cols)
        return ep.drop("_ev").select(*_EPISODE_LEAD, *[c for c in ep.columns if c not in _NOT_TAIL])
    if "price_chg" in ep.columns and ep.get_column("_ev").null_count():
        # evidence of the first bar, written once per episode (classify(evidence=False))
        ep = ep.with_columns(_written(ep, cfg).alias("_ev")).drop(evidence_cols)
    summary = _written_summary(ep, num, cfg)
    ep = ep.with_columns(pl.concat_str([pl.lit(_OPENED), pl.col("_ev"), summary]).alias("evidence"))
    # the first bars' numbers, gathered when some bar lacked evidence, are not the table's (they stayed
    # in it where every episode's first bar had evidence)
    ep = ep.drop(evidence_cols, strict=False)
    return ep.drop("_ev").select(*_EPISODE_LEAD, *[c for c in ep.columns if c not in _NOT_TAIL])


#: The columns :func:`episodes` returns first, in order; the ranges follow.
_EPISODE_LEAD = ("venue", "canonical", "regime", "start_ms", "end_ms", "bars", "evidence")
_NOT_TAIL = ("_run", "_ev", *_EPISODE_LEAD)
_OPENED = "opened on: "


# -- the episodes' text, written by episode_text's compiled loops from numbers polars computes --------


def _usd_parts(x: pl.Expr, name: str) -> list[pl.Expr]:
    """The numbers :func:`~perpscope.regimes.evidence_text.usd_expr` writes: the amount scaled and
    rounded to one decimal where ``|x| ≥ 1000`` (unit code 1/2/3: k/M/B), else the whole dollars (unit 0);
    and whether ``x < 0``."""
    a = x.abs()
    scaled = pl.when(a >= 1e9).then(x / 1e9).when(a >= 1e6).then(x / 1e6).when(a >= 1e3).then(x / 1e3)
    whole = pl.when(a >= 1e3).then(pl.lit(None, pl.Float64)).otherwise(x).round(0)
    unit = pl.when(a >= 1e9).then(3).when(a >= 1e6).then(2).when(a >= 1e3).then(1).otherwise(0)
    return [
        pl.coalesce(scaled.round(1), whole).alias(name),
        unit.fill_null(0).alias(f"{name}_unit"),
        (x < 0).fill_null(False).alias(f"{name}_neg"),
    ]


def _fixed_number(x: pl.Expr, digits: int) -> pl.Expr:
    """The rounded integer :func:`~perpscope.regimes.evidence_text.fixed_expr` writes, as a float."""
    return (x * 10**digits).round(0)


def _real_nan(exprs: list[pl.Expr]) -> pl.Expr:
    """True where one of ``exprs`` is NaN (not null): such rows are left to the polars text."""
    return pl.any_horizontal([e.cast(pl.Float64).is_nan() for e in exprs]).fill_null(False)


def _written(ep: pl.DataFrame, cfg: RegimeConfig) -> pl.Series:
    """``_ev`` with the first-bar sentence (:func:`_evidence`) filled in where it is null, byte for byte
    the text of :func:`_evidence`, written by :func:`perpscope.regimes.episode_text.openings`."""
    text, declined = openings(_opening_nums(ep), _burst_text(cfg), interval_label(cfg.window_ms))
    out = pl.select(pl.coalesce(ep.get_column("_ev"), text)).to_series()
    return _patched(out, ep, declined, _evidence(cfg))


def _opening_nums(ep: pl.DataFrame) -> pl.DataFrame:
    """The numbers of :func:`_evidence`'s sentence, as :func:`perpscope.regimes.episode_text.openings`
    reads them."""
    raw = {
        "price": _pick("price_chg"),
        "oi": _pick("oi_chg"),
        "oi_usd": _pick("oi_usd_chg"),
        "liq_l": _pick("liq_long_w_usd"),
        "liq_s": _pick("liq_short_w_usd"),
        "share": _pick("liq_long_share_w"),
        "fund": pl.col("funding_8h"),
        "fund_chg": pl.col("funding_chg"),
        "ls": pl.col("ls_ratio"),
        "lz": pl.col("ls_z"),
    }
    # lazily, so that polars computes the horizon tests every _pick repeats once (common
    # subexpressions; an eager select evaluates each: 1.6× the time)
    return (
        ep.lazy()
        .select(
            pl.col("_ev").is_null().alias("need"),
            _real_nan(list(raw.values())).alias("nan"),
            pl.col("horizon"),
            pl.col("missing"),
            *[(raw[k] * 100).round(1).alias(k) for k in ("price", "oi", "oi_usd")],
            raw["liq_l"].is_not_null().alias("liq_has"),
            *_usd_parts(raw["liq_l"], "liq_l"),
            *_usd_parts(raw["liq_s"], "liq_s"),
            (raw["share"] * 100).round(0).alias("share"),
            _pick("liq_burst_w").fill_null(False).alias("burst"),
            _fixed_number(raw["fund"] * 100, 3).alias("fund"),
            _fixed_number(raw["fund_chg"] * 100, 3).alias("fund_chg"),
            raw["ls"].round(2).alias("ls"),
            raw["lz"].round(1).alias("lz"),
            pl.col("liquidation_led").fill_null(False).alias("led"),
            (pl.col("regime") == "deleveraging_flush").fill_null(False).alias("flush"),
            pl.col("partial").fill_null(False).alias("partial"),
        )
        .collect()
    )


def _summary_expr(num: dict[str, bool], cfg: RegimeConfig) -> pl.Expr:
    """The episode's summary after its opening sentence, as polars expressions (the definition)."""
    bars = pl.col("bars").cast(pl.Utf8)
    plural = pl.when(pl.col("bars") == 1).then(pl.lit(" bar")).otherwise(pl.lit(" bars"))
    extra: list[pl.Expr] = [pl.lit("; over "), bars, plural]
    if num["price_chg"]:  # the episode's range is of the window's changes, whatever opened it
        extra.append(pl.lit(f" ({interval_label(cfg.window_ms)} changes)"))
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
    return pl.concat_str(extra)


def _written_summary(ep: pl.DataFrame, num: dict[str, bool], cfg: RegimeConfig) -> pl.Series:
    """:func:`_summary_expr` of every episode, written by
    :func:`perpscope.regimes.episode_text.summaries`."""
    changes = f" ({interval_label(cfg.window_ms)} changes)" if num["price_chg"] else ""
    text, declined = summaries(_summary_nums(ep, num), changes)
    return _patched(text, ep, declined, _summary_expr(num, cfg))


def _summary_nums(ep: pl.DataFrame, num: dict[str, bool]) -> pl.DataFrame:
    """The numbers of :func:`_summary_expr`, as :func:`perpscope.regimes.episode_text.summaries` reads
    them."""
    raw: dict[str, pl.Expr] = {}
    if num["price_chg"]:
        raw |= {"p_min": pl.col("price_chg_min"), "p_max": pl.col("price_chg_max")}
    if num["oi_chg"]:
        raw |= {"o_min": pl.col("oi_chg_min"), "o_max": pl.col("oi_chg_max")}
    if num["liq_long_w_usd"]:
        raw["liq"] = pl.col("liq_long_usd")
    return ep.select(
        (_real_nan(list(raw.values())) if raw else pl.lit(False)).alias("nan"),
        pl.col("bars"),
        *[(e * 100).round(1).alias(k) for k, e in raw.items() if k != "liq"],
        *(_usd_parts(raw["liq"], "liq") if "liq" in raw else []),
    )


def _written_whole(ep: pl.DataFrame, num: dict[str, bool], cfg: RegimeConfig) -> pl.Series:
    """The whole ``evidence`` of episodes none of whose first bars has evidence: ``"opened on: "``, the
    first-bar sentence (:func:`_evidence`) and the summary (:func:`_summary_expr`), byte for byte the
    polars text, written in one pass by :func:`perpscope.regimes.episode_text.evidences`."""
    changes = f" ({interval_label(cfg.window_ms)} changes)" if num["price_chg"] else ""
    text, declined = evidences(
        _OPENED,
        _opening_nums(ep),
        _burst_text(cfg),
        interval_label(cfg.window_ms),
        _summary_nums(ep, num),
        changes,
    )
    whole = pl.concat_str([pl.lit(_OPENED), _evidence(cfg), _summary_expr(num, cfg)])
    return _patched(text, ep, declined, whole)


def _patched(text: pl.Series, ep: pl.DataFrame, declined: np.ndarray, expr: pl.Expr) -> pl.Series:
    """``text`` with the rows the loop declined written by the polars expression ``expr``."""
    if not declined.any():
        return text
    rows = np.flatnonzero(declined)
    return text.scatter(rows, ep[rows].select(expr).to_series())


def _runs(df: pl.DataFrame, new: pl.Expr, firsts: bool) -> pl.DataFrame:
    """One row per run of ``df`` (numbered and sorted; ``new`` marks each run's first bar): its series,
    regime, first and last bar, length, first bar's evidence and, with ``firsts``, the first bar's
    numeric evidence; and the ranges of the window's changes and long liquidations over it.

    The runs are contiguous slices: their first and last rows are gathered (a group-by took every
    first value per group, 3× the time) and the ranges read slice by slice (:func:`run_ranges`).
    """
    starts = df.select(new.arg_true()).to_series().to_numpy().astype(np.int64)
    ends = np.append(starts[1:], df.height)[: starts.shape[0]] - 1
    have = [c for c in (*EVIDENCE_COLUMNS, "_f_ext") if c in df.columns]
    first_cols = have if firsts and len(have) == len(EVIDENCE_COLUMNS) else []
    iv = pl.col("interval_ms") if "interval_ms" in df.columns else pl.lit(0)
    last = df.select((pl.col("ts_ms") + pl.duration(milliseconds=iv)).alias("end_ms"))
    ep = (
        df.select("venue", "canonical", "regime", pl.col("ts_ms").alias("start_ms"))
        .gather(starts)
        .with_columns(
            last.to_series().gather(ends).alias("end_ms"),
            pl.Series("bars", ends - starts + 1, dtype=pl.UInt32),
            df.get_column("evidence").gather(starts).alias("_ev"),
            *(df.select(first_cols).gather(starts).get_columns() if first_cols else []),
        )
    )
    ranges: list[pl.Series] = []
    # contiguous runs: a compiled pass over each slice (run_ranges; a group_by on a run number hashed
    # and gathered every group, ~8× the time)
    if "price_chg" in df.columns:
        lo, hi = run_ranges(df, "price_chg", starts, ends)
        ranges += [hi.alias("price_chg_max"), lo.alias("price_chg_min")]
    if "oi_chg" in df.columns:
        lo, hi = run_ranges(df, "oi_chg", starts, ends)
        ranges += [lo.alias("oi_chg_min"), hi.alias("oi_chg_max")]
    if "liq_long_w_usd" in df.columns:
        ranges.append(run_ranges(df, "liq_long_w_usd", starts, ends)[1].alias("liq_long_usd"))
    return ep.with_columns(ranges) if ranges else ep


# -- episodes read in place: one compiled pass over the labels' columns ----------------------------------

_RANGES = ("price_chg_max", "price_chg_min", "oi_chg_min", "oi_chg_max", "liq_long_usd")
_ALL_NUM = {"price_chg": True, "oi_chg": True, "liq_long_w_usd": True}


def _readable_in_place(df: pl.DataFrame) -> bool:
    """``df`` has every column :func:`_episodes_in_place` reads, with classify's dtypes."""
    s = df.schema
    if df.height == 0 or any(c not in s for c in (*EVIDENCE_COLUMNS, "evidence", SID)):
        return False
    floats = [f"{c}{SUFFIX[h]}" for c in PICKED for h in ("window", "bar", "long")] + list(FIRST_BAR)
    flags = [f"liq_burst_w{SUFFIX[h]}" for h in ("window", "bar", "long")] + list(FLAGS)
    return (
        all(s[c] == pl.Float64 for c in floats)
        and all(s[c] == pl.Boolean for c in flags)
        and all(s[c] == pl.String for c in (*TEXTS, "evidence"))
        and s[SID] == pl.Int64
    )


def _episodes_in_place(df: pl.DataFrame, cfg: RegimeConfig) -> pl.DataFrame | None:
    """:func:`episodes` of the numbered labels ``df`` in one compiled pass over its columns, read in
    place (:mod:`perpscope.metrics.arrow_buffers`): the runs' bounds, their first bars' numbers and
    their ranges, and the whole evidence written by :func:`perpscope.regimes.episode_text.episode_table`
    (the polars definition writes the rows it declines). None where ``df`` lacks a column or dtype
    the pass reads (the general path then runs)."""
    if not _readable_in_place(df):
        return None
    tx = [ab.texts(df.get_column(c)) for c in TEXTS]
    regime = tx[3]
    sid = df.get_column(SID).to_numpy()
    sid.flags.writeable = False
    starts = run_starts(sid, regime.words, regime.data, regime.starts, regime.valid)
    cols = [f"{c}{SUFFIX[h]}" for c in PICKED for h in ("window", "bar", "long")] + list(FIRST_BAR)
    fl = [ab.floats(df.get_column(c)) for c in cols]
    flags = [f"liq_burst_w{SUFFIX[h]}" for h in ("window", "bar", "long")] + list(FLAGS)
    bits = [ab.bools(df.get_column(c)) for c in flags]
    window = interval_label(cfg.window_ms)
    changes = f" ({window} changes)"
    burst = _burst_text(cfg)
    prefix = _OPENED.encode()
    # widest row: the literals, 15 numbers and the variable texts (the horizon and missing words
    # are bounded by the longest of each column's data)
    longest = max(int(t.data.shape[0]) for t in tx[:2])
    width = 400 + 24 * 15 + len(prefix) + len(burst.encode()) + 2 * len(window.encode()) + 24 + 2 * longest
    data, offs, declined_b, has_ev_b, rng, kinds_b = episode_table(
        starts,
        df.height,
        tuple(f.values for f in fl),
        bitmap_rows(fl, bits, tx, ab.validity(df.get_column("evidence"))),
        tuple(t.views for t in tx),
        tuple(t.words for t in tx),
        tuple(t.data for t in tx),
        tuple(t.starts for t in tx),
        view_words("bar"),
        view_words("long"),
        np.frombuffer(prefix, np.uint8),
        np.frombuffer(burst.encode(), np.uint8),
        np.frombuffer(window.encode(), np.uint8),
        np.frombuffer(changes.encode(), np.uint8),
        width,
    )
    n = starts.shape[0]
    declined, has_ev = declined_b.view(np.bool_), has_ev_b.view(np.bool_)
    ends = np.append(starts[1:], df.height) - 1
    iv = pl.col("interval_ms") if "interval_ms" in df.columns else pl.lit(0)
    end = df.select("ts_ms", iv.alias("_iv")).gather(ends)
    kind_of = (0, 0, 1, 1, 2)
    ranges = [
        float_series(c, rng[k * n : (k + 1) * n], kinds_b[kind_of[k] * n : (kind_of[k] + 1) * n] == 0)
        for k, c in enumerate(_RANGES)
    ]
    ep = (
        df.select("venue", "canonical", "regime", pl.col("ts_ms").alias("start_ms"))
        .gather(starts)
        .with_columns(
            end.select(
                (pl.col("ts_ms") + pl.duration(milliseconds=pl.col("_iv"))).alias("end_ms")
            ).to_series(),
            pl.Series("bars", ends - starts + 1, dtype=pl.UInt32),
            strings("evidence", data, offs),
            *ranges,
        )
    )
    if has_ev.any():  # first bars with classify's own sentence: "opened on: " + it + the summary
        ev = df.get_column("evidence").gather(starts)
        ep = ep.with_columns(
            pl.when(pl.Series(has_ev))
            .then(pl.concat_str([pl.lit(_OPENED), ev, pl.col("evidence")]))
            .otherwise(pl.col("evidence"))
            .alias("evidence")
        )
    if declined.any():
        ep = ep.with_columns(_declined_text(df, ep, starts, declined, has_ev, cfg))
    return ep.select(*_EPISODE_LEAD, *_RANGES)


def _declined_text(
    df: pl.DataFrame,
    ep: pl.DataFrame,
    starts: np.ndarray,
    declined: np.ndarray,
    has_ev: np.ndarray,
    cfg: RegimeConfig,
) -> pl.Series:
    """``ep``'s evidence with the rows the loop declined written by the polars definition: "opened on: "
    + the first bar's evidence (or :func:`_evidence` of its numbers) + :func:`_summary_expr`.

    Each piece is evaluated alone, as the general path evaluates it (the whole sentence in one
    expression only where no first bar has evidence): polars' own arithmetic differs by context on
    amounts beyond the loop's reach (``x / 1e9`` of 4.2e28 in one expression or another: last digit)."""
    rows = np.flatnonzero(declined)
    sub = (
        df.select(*EVIDENCE_COLUMNS, "regime", pl.col("evidence").alias("_ev"))
        .gather(starts[rows])
        .with_columns(ep.select("bars", *_RANGES)[rows])
    )
    summary = _summary_expr(_ALL_NUM, cfg)
    if not has_ev.any():  # the general path's _written_whole
        text = sub.select(pl.concat_str([pl.lit(_OPENED), _evidence(cfg), summary])).to_series()
        return ep.get_column("evidence").scatter(rows, text)
    # the general path's _written (openings where the first bar has none) and _written_summary
    need = ~has_ev[rows]
    opening = sub.get_column("_ev")
    if need.any():
        part = np.flatnonzero(need)
        opening = opening.scatter(part, sub[part].select(_evidence(cfg)).to_series())
    parts = pl.DataFrame([opening.alias("_o"), sub.select(summary).to_series().alias("_s")])
    text = parts.select(pl.concat_str([pl.lit(_OPENED), pl.col("_o"), pl.col("_s")])).to_series()
    return ep.get_column("evidence").scatter(rows, text)
