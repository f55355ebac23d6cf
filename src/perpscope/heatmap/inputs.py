"""Model inputs: one series' record frames → one frame of bars the models read.

The caller picks the series (one venue and symbol, or an aggregate) and passes its frames; they are
joined on time only, so candles of ``binance BTC-USDT-PERP`` may be paired with open interest of the same
market from another source (e.g. a data vendor's ``BTC-AGG-PERP`` row for Binance). Point in time:
snapshots (open interest, ratios, funding settlements) are attached with
:func:`perpscope.metrics.bars.asof_bars` — a bar only sees values known by its end.
"""

from __future__ import annotations

import polars as pl

from perpscope.core.errors import PerpscopeError
from perpscope.metrics.bars import asof_bars, resample_candles, resample_taker_volume
from perpscope.metrics.funding import rate_8h, settled


class HeatmapInputError(PerpscopeError, ValueError):
    """The frames handed to a heatmap model cannot drive it (says what was expected and found)."""


#: Columns of the frame :func:`model_inputs` returns (nullable ones may be all null).
INPUT_COLUMNS = (
    "ts_ms", "interval_ms", "open", "high", "low", "close", "volume_base", "volume_quote", "taker_buy_base",
    "taker_buy_share", "mark_high", "mark_low", "oi_base", "oi_usd", "funding_8h", "ls_long_share",
)  # fmt: skip


def _one_series(df: pl.DataFrame, what: str) -> pl.DataFrame:
    n = df.select("venue", "canonical").unique().height if {"venue", "canonical"} <= set(df.columns) else 1
    if n > 1:
        raise HeatmapInputError(
            f"{what}: the heatmap models read one series at a time, found {n} (venue, canonical) pairs; "
            "filter the frame to one venue and symbol first"
        )
    return df


def model_inputs(
    candles: pl.DataFrame,
    open_interest: pl.DataFrame | None = None,
    funding: pl.DataFrame | None = None,
    ratios: pl.DataFrame | None = None,
    taker: pl.DataFrame | None = None,
    *,
    every_ms: int | None = None,
    market: str = "perp",
) -> pl.DataFrame:
    """Bars for the heatmap models.

    Parameters
    ----------
    candles : polars.DataFrame
        ``candles`` rows of one series. Trade candles (``price_type == "trade"``) are the bars; mark
        candles of the same interval, when present, give ``mark_high``/``mark_low`` (venues liquidate on
        the mark price).
    open_interest : polars.DataFrame, optional
        ``open_interest`` rows of the same market (finest interval used).
    funding : polars.DataFrame, optional
        ``funding`` rows; only settlements are used, as ``funding_8h`` (rate per 8 h).
    ratios : polars.DataFrame, optional
        ``long_short_ratios`` rows; ``global_accounts`` gives ``ls_long_share``.
    taker : polars.DataFrame, optional
        ``taker_volume`` rows, for ``taker_buy_share`` where the candles carry no taker-buy volume.
    every_ms : int, optional
        Bar length; default the candles' finest interval.
    market : str
        Market of the trade candles to use (``perp``).

    Returns
    -------
    polars.DataFrame
        :data:`INPUT_COLUMNS`, one row per trade bar, sorted by ``ts_ms``.
    """
    c = _one_series(candles, "candles").filter(pl.col("market") == market)
    trade = c.filter(pl.col("price_type") == "trade")
    if trade.is_empty():
        raise HeatmapInputError(
            f"model_inputs: no trade candles of market {market!r} among {candles.height} candle rows"
        )
    every = every_ms or int(trade.get_column("interval_ms").min())  # type: ignore[arg-type]
    bars = _trade_bars(trade, every)
    bars = _with_taker_share(bars, taker, market, every)
    bars = _with_mark(bars, c.filter(pl.col("price_type") == "mark"), every)
    bars = _with_open_interest(bars, open_interest)
    bars = _with_funding(bars, funding)
    bars = _with_long_share(bars, ratios)
    return bars.select(INPUT_COLUMNS).sort("ts_ms")


def _nulls(bars: pl.DataFrame, *names: str) -> pl.DataFrame:
    """``bars`` with Float64 columns ``names`` all null (an input not given)."""
    return bars.with_columns(pl.lit(None, pl.Float64).alias(n) for n in names)


def _trade_bars(trade: pl.DataFrame, every: int) -> pl.DataFrame:
    """Trade candles resampled to ``every`` ms: OHLC, volumes (base, quote, taker buy) and the taker-buy
    share of the volume where the candles carry it."""
    trade = resample_candles(trade, every).sort("ts_ms")
    cols = ["volume_base", "volume_quote", "taker_buy_base"]
    vols = [
        pl.col(x).cast(pl.Float64) if x in trade.columns else pl.lit(None, pl.Float64).alias(x) for x in cols
    ]
    bars = trade.select("ts_ms", "interval_ms", "open", "high", "low", "close", *vols)
    return bars.with_columns((pl.col("taker_buy_base") / pl.col("volume_base")).alias("taker_buy_share"))


def _with_taker_share(
    bars: pl.DataFrame, taker: pl.DataFrame | None, market: str, every: int
) -> pl.DataFrame:
    """``taker_buy_share`` filled from ``taker_volume`` rows where the candles had none."""
    if taker is None or not taker.height:
        return bars
    tv = _one_series(taker, "taker_volume").filter(pl.col("market") == market)
    tv = resample_taker_volume(tv, every) if tv.height else tv
    share = pl.coalesce(
        pl.col("buy_base") / (pl.col("buy_base") + pl.col("sell_base")),
        pl.col("buy_usd") / (pl.col("buy_usd") + pl.col("sell_usd")),
    )
    tv = tv.select("ts_ms", share.alias("_tshare"))
    bars = bars.join(tv, on="ts_ms", how="left").with_columns(
        pl.coalesce("taker_buy_share", "_tshare").alias("taker_buy_share")
    )
    return bars.drop("_tshare")


def _with_mark(bars: pl.DataFrame, mark: pl.DataFrame, every: int) -> pl.DataFrame:
    """``mark_high`` / ``mark_low`` from mark candles of the same bars (venues liquidate on the mark)."""
    if not mark.height:
        return _nulls(bars, "mark_high", "mark_low")
    m = resample_candles(mark, every).select(
        "ts_ms", pl.col("high").alias("mark_high"), pl.col("low").alias("mark_low")
    )
    return bars.join(m, on="ts_ms", how="left")


def _with_open_interest(bars: pl.DataFrame, open_interest: pl.DataFrame | None) -> pl.DataFrame:
    """``oi_base`` / ``oi_usd`` known by each bar's end, from the finest open-interest series."""
    if open_interest is None or not open_interest.height:
        return _nulls(bars, "oi_base", "oi_usd")
    oi = _one_series(open_interest, "open_interest")
    oi = oi.filter(pl.col("interval_ms") == oi.get_column("interval_ms").min())
    oi = oi.select("ts_ms", *[pl.col(x).cast(pl.Float64) for x in ("oi_base", "oi_usd")])
    return asof_bars(bars, oi, ["oi_base", "oi_usd"], by=())


def _with_funding(bars: pl.DataFrame, funding: pl.DataFrame | None) -> pl.DataFrame:
    """``funding_8h``: the last settled rate known by each bar's end, per 8 h."""
    if funding is None or not funding.height:
        return _nulls(bars, "funding_8h")
    f = settled(_one_series(funding, "funding")).select(
        "ts_ms", rate_8h(pl.col("rate"), pl.col("interval_ms")).alias("funding_8h")
    )
    return asof_bars(bars, f, ["funding_8h"], by=())


def _with_long_share(bars: pl.DataFrame, ratios: pl.DataFrame | None) -> pl.DataFrame:
    """``ls_long_share``: the share of accounts net long (``global_accounts``) known by each bar's end."""
    if ratios is None or not ratios.height or "global_accounts" not in ratios.get_column("kind").to_list():
        return _nulls(bars, "ls_long_share")
    r = _one_series(ratios.filter(pl.col("kind") == "global_accounts"), "long_short_ratios")
    r = r.select(
        "ts_ms",
        pl.coalesce("long_share", pl.col("ratio") / (1.0 + pl.col("ratio"))).alias("ls_long_share"),
    )
    return asof_bars(bars, r, ["ls_long_share"], by=())
