"""Volume structure: perp versus spot volume, and taker buy/sell imbalance with cumulative volume delta.

Perps carry most of crypto's volume; how much more than spot says how leveraged the price-setting flow
is (a perp/spot ratio of 7.87 means perps traded 7.87× spot). Taker flow says who crossed the spread:
the taker is the aggressor, buying at the ask or selling at the bid. Perp and spot are kept apart
(different ``canonical``), so each has its own imbalance and CVD.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from perpscope.metrics.bars import bar_open, resample_candles, resample_taker_volume
from perpscope.metrics.frames import (
    KEYS,
    FrameError,
    keys_of,
    label,
    over,
    pair_of,
    require,
    sort_series,
    window,
)


def candle_volume(candles: pl.DataFrame, every_ms: int) -> pl.DataFrame:
    """Traded volume per bar from trade candles, perp and spot.

    Returns
    -------
    polars.DataFrame
        ``venue, canonical, market, ts_ms, interval_ms, volume_usd`` (quote volume, a USD stablecoin
        quote taken at par) and ``volume_base``.
    """
    c = resample_candles(candles.filter(pl.col("price_type") == "trade"), every_ms)
    return c.select(
        *KEYS, "market", "ts_ms", "interval_ms", pl.col("volume_quote").alias("volume_usd"), "volume_base"
    )


def taker_total_volume(taker: pl.DataFrame, every_ms: int) -> pl.DataFrame:
    """Traded volume per bar from taker volume (every trade has one taker: volume = buy + sell).

    Returns the same shape as :func:`candle_volume` (``volume_usd = buy_usd + sell_usd``).
    """
    t = resample_taker_volume(taker, every_ms)
    return t.select(
        *KEYS,
        "market",
        "ts_ms",
        "interval_ms",
        (pl.col("buy_usd") + pl.col("sell_usd")).alias("volume_usd"),
        (pl.col("buy_base") + pl.col("sell_base")).alias("volume_base"),
    )


def perp_spot_ratio(
    volume: pl.DataFrame,
    *,
    window_ms: int | None = None,
    across_venues: bool = False,
    volume_col: str = "volume_usd",
) -> pl.DataFrame:
    """Perp-to-spot volume ratio and perp share of volume, per pair and bar.

    Parameters
    ----------
    volume : polars.DataFrame
        Per-bar volume of perps and spot markets on one bar grid (:func:`candle_volume` or
        :func:`taker_total_volume`): ``venue, canonical, market, ts_ms, volume_col``.
    window_ms : int, optional
        Sum both volumes over the bars opening in ``(t − w, t]`` first (ratio of sums, not mean of
        ratios). Default None: per bar.
    across_venues : bool
        Pair every venue's perps with every venue's spot of the same pair (sums across venues).
        Default False: a venue's perp is paired with the same venue's spot market.
    volume_col : str
        Volume column (USD by default, so perp and spot compare in one unit).

    Returns
    -------
    polars.DataFrame
        ``[venue,] pair, ts_ms, perp_volume_usd, spot_volume_usd, perp_spot_ratio, perp_share``; only
        bars where both markets have volume.

    Notes
    -----
    ``pair`` is the canonical symbol without its market (``BTC-USDT``). ``perp_spot_ratio =
    V_perp / V_spot``; ``perp_share = V_perp / (V_perp + V_spot)`` (ratio 7.87 ⇔ share 0.887).
    """
    require(volume, ("canonical", "market", "ts_ms", volume_col), "perp_spot_ratio")
    keys = ["pair"] if across_venues else ["venue", "pair"]
    v = volume.with_columns(pair_of(pl.col("canonical")).alias("pair"))
    per = v.group_by([*keys, "market", "ts_ms"]).agg(pl.col(volume_col).sum())
    perp = per.filter(pl.col("market") == "perp").select(
        *keys, "ts_ms", pl.col(volume_col).alias("perp_volume_usd")
    )
    spot = per.filter(pl.col("market") == "spot").select(
        *keys, "ts_ms", pl.col(volume_col).alias("spot_volume_usd")
    )
    df = sort_series(perp.join(spot, on=[*keys, "ts_ms"], how="inner"), keys)
    if window_ms is not None:
        w = window(window_ms)
        df = df.with_columns(
            [
                over(pl.col(c).rolling_sum_by("ts_ms", w, closed="right"), keys)
                for c in ("perp_volume_usd", "spot_volume_usd")
            ]
        )
    p, s = pl.col("perp_volume_usd"), pl.col("spot_volume_usd")
    return df.with_columns(
        pl.when(s > 0).then(p / s).otherwise(None).alias("perp_spot_ratio"),
        pl.when(p + s > 0).then(p / (p + s)).otherwise(None).alias("perp_share"),
    )


def taker_flow(
    taker: pl.DataFrame,
    *,
    reset_ms: int | None = None,
    by: Sequence[str] = (*KEYS, "market"),
) -> pl.DataFrame:
    """Taker buy/sell imbalance, volume delta and cumulative volume delta (CVD), per market.

    Parameters
    ----------
    taker : polars.DataFrame
        Bars with ``buy_usd``/``sell_usd`` and/or ``buy_base``/``sell_base`` (``taker_volume``
        records, or :func:`perpscope.metrics.bars.taker_from_candles`).
    reset_ms : int, optional
        Restart the CVD at every multiple of this length (e.g. one day for a session CVD). Default
        None: cumulate from the first bar in the frame.
    by : sequence of str
        Series keys (venue, canonical, market: perp and spot are separate series).

    Returns
    -------
    polars.DataFrame
        Sorted, with, for each unit present (``usd``, ``base``): ``taker_delta_<u>`` = buy − sell,
        ``cvd_<u>`` = running Σ delta; and ``taker_imbalance`` = (buy − sell) / (buy + sell) in
        [−1, 1] (USD when present, else base units; null when nothing traded).

    Notes
    -----
    The CVD's last value equals the sum of the deltas; its level depends on where it starts, so read
    its changes, not its level.
    """
    units = [u for u in ("usd", "base") if f"buy_{u}" in taker.columns and f"sell_{u}" in taker.columns]
    if not units:
        raise FrameError(
            f"taker_flow: expected buy_usd/sell_usd or buy_base/sell_base, found {taker.columns}"
        )
    keys = keys_of(taker, by)
    df = sort_series(taker, keys)
    run = [*keys]
    if reset_ms is not None:
        df = df.with_columns(bar_open("ts_ms", reset_ms).alias("_session"))
        run.append("_session")
    cols = []
    for u in units:
        d = (pl.col(f"buy_{u}") - pl.col(f"sell_{u}")).alias(f"taker_delta_{u}")
        cols.append(d)
    df = df.with_columns(cols)
    df = df.with_columns(
        [over(pl.col(f"taker_delta_{u}").fill_null(0.0).cum_sum(), run).alias(f"cvd_{u}") for u in units]
    )
    u = units[0]
    tot = pl.col(f"buy_{u}") + pl.col(f"sell_{u}")
    df = df.with_columns(
        pl.when(tot > 0).then(pl.col(f"taker_delta_{u}") / tot).otherwise(None).alias("taker_imbalance")
    )
    return df.drop("_session") if reset_ms is not None else df


def rolling_imbalance(
    taker: pl.DataFrame, window_ms: int, *, by: Sequence[str] = (*KEYS, "market")
) -> pl.DataFrame:
    """Taker imbalance over a window: ``Σ(buy − sell) / Σ(buy + sell)`` over bars opening in ``(t − w, t]``.

    Parameters
    ----------
    taker : polars.DataFrame
        Taker-volume bars (``buy_usd``/``sell_usd`` or ``buy_base``/``sell_base``).
    window_ms : int
        Window, ms (a day is the usual reading; the caller chooses).
    by : sequence of str
        Series keys (venue, canonical, market).

    Returns
    -------
    polars.DataFrame
        Sorted, with ``taker_imbalance_<w>``: a fraction in [−1, 1], USD when present, else base units.
    """
    u = "usd" if "buy_usd" in taker.columns else "base"
    require(taker, (f"buy_{u}", f"sell_{u}", "ts_ms"), "rolling_imbalance")
    keys = keys_of(taker, by)
    w = window(window_ms)
    b = over(pl.col(f"buy_{u}").fill_null(0.0).rolling_sum_by("ts_ms", w, closed="right"), keys)
    s = over(pl.col(f"sell_{u}").fill_null(0.0).rolling_sum_by("ts_ms", w, closed="right"), keys)
    return sort_series(taker, keys).with_columns(
        pl.when(b + s > 0)
        .then((b - s) / (b + s))
        .otherwise(None)
        .alias(f"taker_imbalance_{label(window_ms)}")
    )
