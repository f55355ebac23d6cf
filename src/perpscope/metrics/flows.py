"""The other side of the ledger: spot ETF flows, stablecoin supply and regulated-futures positioning.

Perps set the next tick; spot and institutional flows decide whether a level holds. These measures read
the flows a trader watches to see a derivatives-led move end: US spot Bitcoin ETF net flows, stablecoin
supply growth (dry powder entering crypto) and how the regulated futures market (CME) is positioned.
Perp/spot volume and taker imbalance are in :mod:`perpscope.metrics.volume`; book depth bands in
:mod:`perpscope.metrics.depth`.

Every output row carries ``known_ms``: the instant its value was public, so a reader at time ``t`` uses
only rows with ``known_ms <= t`` (:func:`perpscope.metrics.flow_evidence.flow_evidence`).

Sources and units: ``docs/metrics.md`` ("Flows"). Instants are ``Datetime("ms", "UTC")`` columns as in
the records; USD amounts ``*_usd``, coin amounts ``*_base`` (BTC for BTC).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from perpscope.core.calendar import US_EQUITIES, session_closes_ms, session_days_ms
from perpscope.metrics.frames import TS, FrameError, instant, ms, require

DAY_MS = 86_400_000
#: Sessions in the short ETF flow sum (a trading week).
ETF_WINDOW_SESSIONS = 5
#: The all-fund symbol in ``fund_flows`` records (the publisher's total).
TOTAL = "TOTAL"


def etf_flows(
    flows: pl.DataFrame,
    price: pl.DataFrame | None = None,
    *,
    window_sessions: int = ETF_WINDOW_SESSIONS,
    calendar: str = US_EQUITIES,
) -> pl.DataFrame:
    """Daily net ETF flow of all funds, its sum over the last sessions, in USD and in BTC.

    Parameters
    ----------
    flows : polars.DataFrame
        ``fund_flows`` records: ``symbol`` (fund ticker or ``TOTAL``), ``ts_ms`` (trading day, 00:00
        UTC), ``flow_usd``.
    price : polars.DataFrame, optional
        BTC price bars (``ts_ms``, ``close``, any bar length): each day's flow is converted at the last
        close at or before the session's close. Without it the BTC columns are null.
    window_sessions : int
        Sessions summed in ``flow_<n>d_usd`` (default 5: a trading week).
    calendar : str
        The exchange calendar the funds trade on (``XNYS``).

    Returns
    -------
    polars.DataFrame
        One row per session of the calendar from the first to the last flow day: ``ts_ms`` (the day),
        ``known_ms`` (the session's close: the day's flow is not known before), ``flow_usd`` (the
        publisher's total, else the sum of the funds; null for a session with no figure),
        ``funds`` (how many funds reported), ``flow_<n>d_usd`` (sum over the last ``n`` sessions;
        null unless all ``n`` have a figure), ``price_usd``, ``flow_base``, ``flow_<n>d_base``.

    Notes
    -----
    A weekend or market holiday is not a zero-flow day: sessions come from the exchange calendar, so a
    5-session sum over a holiday week reaches back to the previous week, and a session missing from
    the data is a gap (null), never a zero. ``flow_base = flow_usd / price_usd`` at the day's close.
    """
    require(flows, ("symbol", "ts_ms", "flow_usd"), "etf_flows")
    n = window_sessions
    out_cols = ["flow_usd", f"flow_{n}d_usd", "flow_base", f"flow_{n}d_base"]
    if flows.height == 0:
        schema: dict[str, pl.DataType] = {"ts_ms": TS, "known_ms": TS, "funds": pl.Int64()}
        schema |= {c: pl.Float64() for c in [*out_cols, "price_usd"]}
        return pl.DataFrame(schema=schema)
    f = flows.with_columns(ms("ts_ms").alias("_day"))
    total = f.filter(pl.col("symbol") == TOTAL).group_by("_day").agg(pl.col("flow_usd").sum().alias("_total"))
    funds = (
        f.filter(pl.col("symbol") != TOTAL)
        .group_by("_day")
        .agg(pl.col("flow_usd").sum().alias("_sum"), pl.len().cast(pl.Int64).alias("funds"))
    )
    lo, hi = int(f["_day"].min()), int(f["_day"].max())  # type: ignore[arg-type]
    days = session_days_ms(lo, hi, calendar)
    grid = pl.DataFrame({"_day": days, "_close": session_closes_ms(days, calendar)})
    df = (
        grid.join(total, on="_day", how="left")
        .join(funds, on="_day", how="left")
        .sort("_day")
        .with_columns(pl.coalesce("_total", "_sum").alias("flow_usd"), pl.col("funds").fill_null(0))
    )
    complete = pl.col("flow_usd").is_not_null().cast(pl.Int32).rolling_sum(n, min_samples=n) == n
    df = df.with_columns(
        pl.when(complete).then(pl.col("flow_usd").rolling_sum(n, min_samples=n)).alias(f"flow_{n}d_usd")
    )
    if price is not None and price.height:
        require(price, ("ts_ms", "close"), "etf_flows price")
        px = price.select(ms("ts_ms").alias("_t"), pl.col("close").alias("price_usd")).sort("_t")
        # the close of the bar ending at or before the session's close: a bar's ts_ms is its open, so
        # take bars whose end ≤ close; bar length from the series' own spacing
        step = int(np.median(np.diff(px["_t"].to_numpy()))) if px.height > 1 else 0
        px = px.with_columns((pl.col("_t") + step).alias("_end"))
        df = df.join_asof(
            px.select("_end", "price_usd"), left_on="_close", right_on="_end", strategy="backward"
        )
    else:
        df = df.with_columns(pl.lit(None, dtype=pl.Float64).alias("price_usd"))
    df = df.with_columns((pl.col("flow_usd") / pl.col("price_usd")).alias("flow_base"))
    complete_base = pl.col("flow_base").is_not_null().cast(pl.Int32).rolling_sum(n, min_samples=n) == n
    df = df.with_columns(
        pl.when(complete_base)
        .then(pl.col("flow_base").rolling_sum(n, min_samples=n))
        .alias(f"flow_{n}d_base")
    )
    return df.select(
        instant(pl.col("_day")).alias("ts_ms"),
        instant(pl.col("_close")).alias("known_ms"),
        "flow_usd",
        "funds",
        f"flow_{n}d_usd",
        "price_usd",
        "flow_base",
        f"flow_{n}d_base",
    )


def stablecoin_change(supply: pl.DataFrame, windows_days: tuple[int, ...] = (7, 30)) -> pl.DataFrame:
    """Stablecoin supply and its change over 7 and 30 days, per coin and for all coins together.

    Parameters
    ----------
    supply : polars.DataFrame
        ``stablecoin_supply`` records: ``symbol`` (coin), ``ts_ms`` (daily, 00:00 UTC), ``supply_usd``.
    windows_days : tuple of int
        Change windows, days.

    Returns
    -------
    polars.DataFrame
        ``symbol`` (each coin, and ``ALL`` on days every coin has a value), ``ts_ms``, ``known_ms``
        (``ts_ms`` + 1 day: the day's value is read once the day is over), ``supply_usd``, and per
        window ``w``: ``change_<w>d_usd`` (supply − supply ``w`` days before) and ``change_<w>d``
        (the same as a fraction of the earlier supply); null where the earlier day is missing.

    Notes
    -----
    Supply growth is new dollars parked on-chain, which can be spent on crypto; a falling supply is
    money leaving. The change is over calendar days (stablecoins trade every day).
    """
    require(supply, ("symbol", "ts_ms", "supply_usd"), "stablecoin_change")
    s = supply.select("symbol", ms("ts_ms").alias("_t"), "supply_usd")
    coins = s["symbol"].n_unique()
    every = (
        s.group_by("_t")
        .agg(pl.col("supply_usd").sum(), pl.len().alias("_n"))
        .filter(pl.col("_n") == coins)
        .select(pl.lit("ALL").alias("symbol"), "_t", "supply_usd")
    )
    s = pl.concat([s, every]) if coins > 1 else s
    s = s.sort("symbol", "_t")
    for w in windows_days:
        before = s.select("symbol", (pl.col("_t") + w * DAY_MS).alias("_t"), pl.col("supply_usd").alias("_b"))
        s = s.join(before, on=["symbol", "_t"], how="left").with_columns(
            (pl.col("supply_usd") - pl.col("_b")).alias(f"change_{w}d_usd"),
            ((pl.col("supply_usd") - pl.col("_b")) / pl.col("_b")).alias(f"change_{w}d"),
        )
        s = s.drop("_b")
    return s.with_columns(
        # known a day after its stamp: DefiLlama does not say at which instant of the day its daily value
        # is taken, so it is read once that day is over (never ahead, at most a day late)
        instant(pl.col("_t")).alias("ts_ms"),
        instant(pl.col("_t") + DAY_MS).alias("known_ms"),
    ).select("symbol", "ts_ms", "known_ms", pl.exclude("symbol", "_t", "ts_ms", "known_ms"))


def cme_positioning(positions: pl.DataFrame) -> pl.DataFrame:
    """CME positioning by trader category: open interest and each category's net, in BTC.

    Parameters
    ----------
    positions : polars.DataFrame
        ``futures_positioning`` records (base units, stamped at the report's public release).

    Returns
    -------
    polars.DataFrame
        ``ts_ms`` (release), ``known_ms`` (= ``ts_ms``), ``oi_base``, ``lev_net_base`` (leveraged funds
        long − short), ``am_net_base`` (asset managers), ``dealer_net_base``, ``other_net_base``,
        ``lev_net_share`` (leveraged-funds net / OI) and ``basis_trade`` (True when leveraged funds are
        net short while asset managers are net long; null when either is unknown).

    Notes
    -----
    The basis-trade reading: hedge funds (leveraged funds) short CME futures against long spot (ETF
    shares) to earn the futures premium, while asset managers hold the long futures. A large
    leveraged-funds net short is then an arbitrage book, not a bet on a fall — and it unwinds (buying
    back futures, selling spot) when the premium collapses.
    """
    require(positions, ("ts_ms", "oi_base"), "cme_positioning")
    if positions["symbol"].n_unique() > 1 if "symbol" in positions.columns else False:
        raise FrameError("cme_positioning: one market at a time (several contract codes given)")
    net = {
        c: pl.col(f"{c}_long_base") - pl.col(f"{c}_short_base")
        for c in ("lev", "am", "dealer", "other")
        if f"{c}_long_base" in positions.columns
    }
    df = positions.sort("ts_ms").select(
        "ts_ms",
        pl.col("ts_ms").alias("known_ms"),
        "oi_base",
        *(e.alias(f"{c}_net_base") for c, e in net.items()),
    )
    if "lev_net_base" in df.columns:
        df = df.with_columns((pl.col("lev_net_base") / pl.col("oi_base")).alias("lev_net_share"))
    if {"lev_net_base", "am_net_base"} <= set(df.columns):
        df = df.with_columns(
            ((pl.col("lev_net_base") < 0) & (pl.col("am_net_base") > 0)).alias("basis_trade")
        )
    return df


def known_at(frame: pl.DataFrame, t_ms: int) -> dict[str, Any] | None:
    """The last row of ``frame`` (sorted by ``known_ms``) public at ``t_ms``; None when none was yet."""
    if frame.height == 0:
        return None
    f = frame.filter(ms("known_ms") <= t_ms)
    return f.sort("known_ms").row(-1, named=True) if f.height else None
