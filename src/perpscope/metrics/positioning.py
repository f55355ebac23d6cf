"""Positioning: long/short ratios and their extremes, and the basis of perps over spot or index.

Long/short ratios (``long_short_ratios`` records) come in kinds: ``global_accounts`` (share of all
accounts net long), ``top_accounts`` and ``top_positions`` (the venue's top traders, by account and by
position size) and ``taker_volume`` (taker buy / sell volume). A ratio is multiplicative — 2:1 and 1:2
are equally far from balance — so its extremes are scored on ``ln(ratio)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from perpscope.core.time import DAY_MS
from perpscope.metrics.bars import asof_bars, finest, resample_candles
from perpscope.metrics.frames import KEYS, keys_of, pair_of, require, sort_series
from perpscope.metrics.rolling import add_zscore, extreme_flag, trailing_percentile

RATIO_KINDS: tuple[str, ...] = ("global_accounts", "top_accounts", "top_positions", "taker_volume")
#: Look-back of the ratio extremes: 30 days, as for funding (positioning drifts with the regime).
RATIO_WINDOW_MS = 30 * DAY_MS
#: |z| of ln(ratio) at or above which a ratio is an extreme (two standard deviations).
RATIO_Z = 2.0


def ratio_extremes(
    ratios: pl.DataFrame,
    *,
    window_ms: int = RATIO_WINDOW_MS,
    min_samples: int = 30,
    z_threshold: float = RATIO_Z,
    percentile: bool = True,
    by: Sequence[str] = KEYS,
) -> pl.DataFrame:
    """Score each long/short ratio against its own series' trailing window.

    Parameters
    ----------
    ratios : polars.DataFrame
        ``long_short_ratios`` records; series are venue, canonical and kind (finest sampling used).
    window_ms : int
        Look-back, ms (default 30 days, :data:`RATIO_WINDOW_MS`).
    min_samples : int
        Previous values needed for a score (default 30).
    z_threshold : float
        ``|z|`` of ``ln(ratio)`` for an extreme (default 2.0, :data:`RATIO_Z`).
    percentile : bool
        Also add the percentile (default True; costs ~1 s per million rows).
    by : sequence of str
        Series keys (the ratio's ``kind`` is added to them).

    Returns
    -------
    polars.DataFrame
        Sorted, with ``ln_ratio``, ``ratio_z``, ``ratio_pct`` (when asked) and ``extreme`` (Int8:
        +1 crowded long, −1 crowded short, 0 otherwise).

    Notes
    -----
    ``z = (ln r_t − mean) / std`` over the previous values in ``(t − w, t)``.
    """
    series = [*by, "kind"]
    require(ratios, [*series, "ts_ms", "ratio"], "ratio_extremes")
    df = sort_series(finest(ratios, series), series)
    lr = pl.when(pl.col("ratio") > 0).then(pl.col("ratio").log()).otherwise(None)
    df = df.with_columns(lr.alias("ln_ratio"))
    df = add_zscore(df, "ln_ratio", "ratio_z", window_ms=window_ms, by=series, min_samples=min_samples)
    if percentile:
        p = trailing_percentile(pl.col("ln_ratio"), window_ms=window_ms, by=series, min_samples=min_samples)
        df = df.with_columns(p.alias("ratio_pct"))
    return df.with_columns(extreme_flag(pl.col("ratio_z"), z_threshold).alias("extreme"))


def ratio_bars(
    bars: pl.DataFrame,
    ratios: pl.DataFrame,
    *,
    kinds: Sequence[str] | None = None,
    extra: Sequence[str] = (),
) -> pl.DataFrame:
    """Attach each kind's latest ratio known by each bar's end (point in time), as ``ls_<kind>`` columns.

    Parameters
    ----------
    bars : polars.DataFrame
        Bars (``venue, canonical, ts_ms, interval_ms``).
    ratios : polars.DataFrame
        ``long_short_ratios`` records, or the output of :func:`ratio_extremes`.
    kinds : sequence of str, optional
        Kinds to attach (default: those present).
    extra : sequence of str
        More ratio columns to carry, named ``<column>_<kind>`` (e.g. ``ratio_z``, ``long_share``).

    Returns
    -------
    polars.DataFrame
        ``bars`` with ``ls_<kind>`` (long/short ratio) and the ``extra`` columns per kind.
    """
    require(ratios, ("venue", "canonical", "kind", "ts_ms", "ratio"), "ratio_bars")
    present = ratios.get_column("kind").unique().sort().to_list()
    out = bars
    for k in kinds if kinds is not None else present:  # a handful of kinds, not rows
        r = finest(ratios.filter(pl.col("kind") == k), KEYS)
        cols = {"ratio": f"ls_{k}", **{c: f"{c}_{k}" for c in extra if c in r.columns}}
        r = r.select(*KEYS, "ts_ms", *[pl.col(c).alias(n) for c, n in cols.items()])
        out = asof_bars(out, r, list(cols.values()))
    return out


def basis(candles: pl.DataFrame, every_ms: int) -> pl.DataFrame:
    """Basis of each perp over spot and over its index, and the venue's premium index, per bar.

    Parameters
    ----------
    candles : polars.DataFrame
        ``candles`` records: perp trade candles and any of spot trade (same venue and pair), index
        and premium candles of the perp. Mark candles are used as ``mark_close``.
    every_ms : int
        Bar length, ms (all candles are resampled to it; closes compare at the same bar end).

    Returns
    -------
    polars.DataFrame
        ``venue, canonical, ts_ms, close`` (perp), and where the references exist ``spot_close``,
        ``basis_spot``, ``index_close``, ``basis_index``, ``mark_close``, ``premium``.

    Notes
    -----
    ``basis_spot = close_perp / close_spot − 1`` and ``basis_index = close_perp / close_index − 1``
    (fractions, at the bar's close). ``premium`` is the close of the venue's premium-index candle, a
    fraction (perp − index) / index already. Positive: perps trade rich, longs are paying up.
    """
    require(candles, ("venue", "canonical", "market", "price_type", "ts_ms", "close"), "basis")
    c = resample_candles(candles, every_ms)
    perp = c.filter((pl.col("market") == "perp") & (pl.col("price_type") == "trade")).select(
        *KEYS, "ts_ms", "close"
    )
    out = perp.with_columns(pair_of(pl.col("canonical")).alias("_pair"))
    spot = c.filter((pl.col("market") == "spot") & (pl.col("price_type") == "trade"))
    if spot.height:
        s = spot.select(
            "venue", pair_of(pl.col("canonical")).alias("_pair"), "ts_ms", pl.col("close").alias("spot_close")
        )
        out = out.join(s, on=["venue", "_pair", "ts_ms"], how="left").with_columns(
            (pl.col("close") / pl.col("spot_close") - 1.0).alias("basis_spot")
        )
    for pt, name in (("index", "index_close"), ("mark", "mark_close"), ("premium", "premium")):
        ref = c.filter((pl.col("market") == "perp") & (pl.col("price_type") == pt))
        if ref.height:
            out = out.join(
                ref.select(*KEYS, "ts_ms", pl.col("close").alias(name)), on=[*KEYS, "ts_ms"], how="left"
            )
    if "index_close" in out.columns:
        out = out.with_columns((pl.col("close") / pl.col("index_close") - 1.0).alias("basis_index"))
    return sort_series(out.drop("_pair"), keys_of(out))
