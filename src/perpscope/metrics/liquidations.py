"""Liquidations: USD per side and window, long share, bursts, the largest flush, and each venue's sampling.

Input is per-bar liquidated USD (:func:`perpscope.metrics.bars.liquidation_bars`), from events or
bar totals. A liquidation's side is the liquidated *position's* side: a long flush is forced selling.

Sums are only as complete as the venue's feed: Binance and OKX publish at most one liquidation per
symbol per second, so a Binance sum is a lower bound; Bybit's all-liquidation topic and Hyperliquid
publish all (:data:`LIQUIDATION_SAMPLING`, :func:`with_sampling`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from perpscope.core.time import DAY_MS
from perpscope.metrics.bars import bar_grid, bar_open
from perpscope.metrics.frames import KEYS, TS, keys_of, label, over, require, sort_series, window
from perpscope.metrics.rolling import add_zscore

#: Look-back of the burst baseline: 30 days of the symbol's own bars, long enough that one crash day
#: does not become the baseline, short enough to follow a market that got busier.
BURST_WINDOW_MS = 30 * DAY_MS
#: z (of ln(1 + USD)) at or above which a bar is a burst: three standard deviations on the log scale
#: is a bar more than e^(3σ) times the typical one — about 20× for BTC's 4h bars (σ ≈ 1).
BURST_Z = 3.0


@dataclass(frozen=True)
class SamplingRule:
    """How completely a venue publishes liquidations, in force from ``effective_from_ms``.

    Attributes
    ----------
    venue : str
        Venue name as in the records' ``venue`` column.
    effective_from_ms : int
        First instant the rule applies to (0: as far back as the project has data).
    complete : bool
        True when every liquidation is published; False when the feed is sampled, so sums are
        lower bounds.
    note : str
        One line for reports.
    source : str
        Where the rule is documented.
    """

    venue: str
    effective_from_ms: int
    complete: bool
    note: str
    source: str


#: Versioned sampling rules per venue (the one with the greatest ``effective_from_ms`` ≤ t applies).
LIQUIDATION_SAMPLING: tuple[SamplingRule, ...] = (
    SamplingRule(
        "binance",
        0,
        False,
        "at most one liquidation per symbol per second is published: sums are lower bounds",
        "Binance USDⓈ-M Liquidation Order Streams: 'only the latest one liquidation order within "
        "1000ms will be pushed' (developers.binance.com/docs/derivatives/usds-margined-futures/"
        "websocket-market-streams/Liquidation-Order-Streams)",
    ),
    SamplingRule(
        "okx",
        0,
        False,
        "at most one liquidation per symbol per second is published: sums are lower bounds",
        "issue 4 (OKX liquidation-orders channel); not re-checked against OKX's documentation here",
    ),
    SamplingRule(
        "bybit",
        0,
        True,
        "all liquidations are published (allLiquidation topic, pushed every 500 ms)",
        "Bybit v5 websocket allLiquidation (bybit-exchange.github.io/docs/v5/websocket/public/"
        "all-liquidation); the older liquidation topic sent at most one per second",
    ),
    SamplingRule(
        "hyperliquid",
        0,
        True,
        "all liquidations are on chain and published",
        "hyperliquid-dex/historical_data README",
    ),
)


def sampling_table(rules: Sequence[SamplingRule] = LIQUIDATION_SAMPLING) -> pl.DataFrame:
    """The rules as a frame: ``venue, effective_from_ms, liq_complete, liq_sampling, liq_sampling_source``."""
    return pl.DataFrame(
        {
            "venue": [r.venue for r in rules],
            "effective_from_ms": [r.effective_from_ms for r in rules],
            "liq_complete": [r.complete for r in rules],
            "liq_sampling": [r.note for r in rules],
            "liq_sampling_source": [r.source for r in rules],
        },
        schema_overrides={"effective_from_ms": pl.Int64},
    ).with_columns(pl.col("effective_from_ms").cast(TS))


def with_sampling(
    df: pl.DataFrame,
    rules: Sequence[SamplingRule] = LIQUIDATION_SAMPLING,
    *,
    venues: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Add each row's venue sampling: ``liq_complete`` (bool; null: no rule) and ``liq_sampling`` (text).

    Parameters
    ----------
    df : polars.DataFrame
        Rows with ``venue`` and ``ts_ms``.
    rules : sequence of SamplingRule
        Default :data:`LIQUIDATION_SAMPLING`.
    venues : sequence of str, optional
        The venues of ``df``'s rows (or more), when the caller knows them (the panel does): spares a
        pass over every row's venue.

    Returns
    -------
    polars.DataFrame
        ``df`` (row order kept) with the rule in force at each row's ``ts_ms``.
    """
    require(df, ("venue", "ts_ms"), "with_sampling")
    if df.is_empty():
        return df.with_columns(
            pl.lit(None, pl.Boolean).alias("liq_complete"), pl.lit(None, pl.String).alias("liq_sampling")
        )
    if venues is None:
        venues = df.get_column("venue").unique().to_list()
    lo, hi = df.get_column("ts_ms").min(), df.get_column("ts_ms").max()
    lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)  # type: ignore[union-attr]
    by_venue: dict[str, list[SamplingRule]] = {}
    for r in sorted(rules, key=lambda r: r.effective_from_ms):
        by_venue.setdefault(r.venue, []).append(r)
    if all(
        not any(lo_ms < r.effective_from_ms <= hi_ms for r in by_venue.get(v.lower(), [])) for v in venues
    ):
        # one rule in force per venue over the whole frame: a lookup per distinct venue name
        rule = {v: _in_force(by_venue.get(v.lower(), []), lo_ms) for v in venues}
        complete = {v: (r.complete if r else None) for v, r in rule.items()}
        note = {v: (r.note if r else None) for v, r in rule.items()}
        if len(venues) == 1:
            # one venue: constant columns (polars keeps a scalar until a reader needs the rows; the
            # 80-character note per row was 34 MB of a 420 k-bar panel)
            (v,) = venues
            return df.with_columns(
                pl.lit(complete[v], pl.Boolean).alias("liq_complete"),
                pl.lit(note[v], pl.String).alias("liq_sampling"),
            )
        return df.with_columns(
            pl.col("venue")
            .replace_strict(complete, default=None, return_dtype=pl.Boolean)
            .alias("liq_complete"),
            pl.col("venue").replace_strict(note, default=None, return_dtype=pl.String).alias("liq_sampling"),
        )
    v, t = pl.col("venue").str.to_lowercase(), pl.col("ts_ms")
    complete_e: pl.Expr = pl.lit(None, pl.Boolean)
    note_e: pl.Expr = pl.lit(None, pl.String)
    for r in sorted(rules, key=lambda r: r.effective_from_ms):  # newest rule in force at t is applied last
        hit = (v == r.venue) & (t >= pl.lit(r.effective_from_ms).cast(pl.Int64).cast(TS))
        complete_e = pl.when(hit).then(pl.lit(r.complete)).otherwise(complete_e)
        note_e = pl.when(hit).then(pl.lit(r.note)).otherwise(note_e)
    return df.with_columns(complete_e.alias("liq_complete"), note_e.alias("liq_sampling"))


def _in_force(rules: list[SamplingRule], at_ms: int) -> SamplingRule | None:
    live = [r for r in rules if r.effective_from_ms <= at_ms]
    return live[-1] if live else None


def long_share(long_usd: pl.Expr, short_usd: pl.Expr) -> pl.Expr:
    """Share of liquidated USD that was long positions: ``long / (long + short)``; null when both are 0."""
    total = long_usd + short_usd
    return pl.when(total > 0).then(long_usd / total).otherwise(None)


def liquidation_windows(
    bars: pl.DataFrame, window_ms: int = DAY_MS, *, by: Sequence[str] = KEYS
) -> pl.DataFrame:
    """Long and short liquidated USD over a trailing window, and the long share.

    Parameters
    ----------
    bars : polars.DataFrame
        Output of :func:`perpscope.metrics.bars.liquidation_bars` (bars without liquidations may be
        absent or zero).
    window_ms : int
        Window, ms (default one day: the usual "24h liquidations").
    by : sequence of str
        Series keys.

    Returns
    -------
    polars.DataFrame
        Sorted, with ``liq_long_usd_<w>``, ``liq_short_usd_<w>``, ``liq_usd_<w>`` and
        ``liq_long_share_<w>``: sums over the bars opening in ``(t − w, t]``.
    """
    require(bars, ("ts_ms", "liq_long_usd", "liq_short_usd"), "liquidation_windows")
    keys = keys_of(bars, by)
    df = sort_series(bars, keys)
    w, lab = window(window_ms), label(window_ms)

    def roll(c: str) -> pl.Expr:
        return over(pl.col(c).fill_null(0.0).rolling_sum_by("ts_ms", w, closed="right"), keys)

    df = df.with_columns(
        roll("liq_long_usd").alias(f"liq_long_usd_{lab}"), roll("liq_short_usd").alias(f"liq_short_usd_{lab}")
    )
    lo, sh = pl.col(f"liq_long_usd_{lab}"), pl.col(f"liq_short_usd_{lab}")
    return df.with_columns(
        (lo + sh).alias(f"liq_usd_{lab}"), long_share(lo, sh).alias(f"liq_long_share_{lab}")
    )


def liquidation_bursts(
    bars: pl.DataFrame,
    *,
    window_ms: int = BURST_WINDOW_MS,
    min_samples: int = 30,
    z_threshold: float = BURST_Z,
    min_usd: float = 0.0,
    by: Sequence[str] = KEYS,
) -> pl.DataFrame:
    """Bars whose liquidated USD stands out against the symbol's own recent bars.

    Parameters
    ----------
    bars : polars.DataFrame
        Liquidation bars (``ts_ms``, ``interval_ms``, ``liq_usd``); missing bars inside each series'
        span are added as zero first, so quiet bars count in the baseline.
    window_ms : int
        Baseline look-back, ms (default 30 days, :data:`BURST_WINDOW_MS`).
    min_samples : int
        Previous bars needed for a score (default 30).
    z_threshold : float
        Burst threshold on the z-score of ``ln(1 + liq_usd)`` (default 3.0, :data:`BURST_Z`).
    min_usd : float
        A burst must also reach this many USD (default 0: no floor). Set it to ignore bursts of
        dust on illiquid symbols.
    by : sequence of str
        Series keys.

    Returns
    -------
    polars.DataFrame
        Every bar of each series' span, sorted, with ``liq_usd_z`` and ``burst`` (bool).

    Notes
    -----
    Liquidations are heavy-tailed and mostly near zero, so the score is taken on ``ln(1 + USD)``:
    a raw-USD z-score is dominated by the largest past spike. ``burst = z ≥ z_threshold and
    liq_usd ≥ min_usd``; the baseline excludes the bar itself (see :mod:`perpscope.metrics.rolling`).
    """
    require(bars, ("ts_ms", "interval_ms", "liq_usd"), "liquidation_bursts")
    keys = keys_of(bars, by)
    every = bars.get_column("interval_ms").unique().to_list()
    if len(every) == 1 and bars.height:
        grid = bar_grid(int(every[0]), bars, by=keys)
        bars = grid.join(
            bars.drop("interval_ms"), on=[*keys, "ts_ms"], how="left", maintain_order="left"
        ).with_columns(
            [
                pl.col(c).fill_null(0.0)
                for c in ("liq_long_usd", "liq_short_usd", "liq_usd")
                if c in bars.columns
            ]
        )
    df = sort_series(bars, keys)
    df = add_zscore(
        df.with_columns(pl.col("liq_usd").log1p().alias("_ll")),
        "_ll",
        "liq_usd_z",
        window_ms=window_ms,
        by=keys,
        min_samples=min_samples,
    ).drop("_ll")
    return df.with_columns(
        ((pl.col("liq_usd_z") >= z_threshold) & (pl.col("liq_usd") >= min_usd))
        .fill_null(False)
        .alias("burst")
    )


def largest_flush(bars: pl.DataFrame, window_ms: int = DAY_MS, *, by: Sequence[str] = KEYS) -> pl.DataFrame:
    """The largest liquidation bar in each window, with the window's totals.

    Parameters
    ----------
    bars : polars.DataFrame
        Liquidation bars (``ts_ms``, ``liq_long_usd``, ``liq_short_usd``, ``liq_usd``).
    window_ms : int
        Window, ms, aligned to the epoch (default one day: UTC calendar days).
    by : sequence of str
        Series keys.

    Returns
    -------
    polars.DataFrame
        One row per series and window: ``window_start_ms`` (window start), ``liq_long_usd``,
        ``liq_short_usd``, ``liq_usd`` (window totals), ``liq_long_share``, ``flush_ts_ms`` (open of
        the largest bar), ``flush_usd`` (its USD), ``flush_side`` (``long`` when that bar liquidated
        more longs than shorts, else ``short``) and ``flush_share`` (its share of the window's USD).

    Notes
    -----
    The flush is ``argmax_bars liq_usd``; a bar of the source grid (5 minutes, 4 hours …) is the unit,
    so the finer the bars, the sharper the flush reads.
    """
    require(bars, ("ts_ms", "liq_long_usd", "liq_short_usd", "liq_usd"), "largest_flush")
    keys = keys_of(bars, by)
    df = bars.with_columns(bar_open("ts_ms", window_ms).alias("window_start_ms"))
    i = pl.col("liq_usd").arg_max()
    out = df.group_by([*keys, "window_start_ms"]).agg(
        pl.col("liq_long_usd").sum(),
        pl.col("liq_short_usd").sum(),
        pl.col("liq_usd").sum(),
        pl.col("ts_ms").get(i).alias("flush_ts_ms"),
        pl.col("liq_usd").max().alias("flush_usd"),
        pl.when(pl.col("liq_long_usd").get(i) >= pl.col("liq_short_usd").get(i))
        .then(pl.lit("long"))
        .otherwise(pl.lit("short"))
        .alias("flush_side"),
    )
    out = out.with_columns(
        long_share(pl.col("liq_long_usd"), pl.col("liq_short_usd")).alias("liq_long_share"),
        pl.when(pl.col("liq_usd") > 0).then(pl.col("flush_usd") / pl.col("liq_usd")).alias("flush_share"),
    )
    return out.sort([*keys, "window_start_ms"])
