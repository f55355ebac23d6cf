"""Order-book depth within ±1/2/5% of mid, and its change: can resting bids absorb forced selling?

Input: ``book_depth`` records (Binance's ``bookDepth`` archive: cumulative depth from mid to ±1…5%,
base units and USD, sampled every ~30 s). Units: USD (``notional_usd``, USDT at par).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from perpscope.metrics.frames import KEYS, keys_of, require, sort_series, window


def depth_bands(
    depth: pl.DataFrame, bands: Sequence[int] = (1, 2, 5), *, change_ms: int | None = None
) -> pl.DataFrame:
    """Bid and ask depth within each band, one row per snapshot and series.

    Parameters
    ----------
    depth : polars.DataFrame
        ``book_depth`` records: ``venue, canonical, ts_ms, band_pct`` (signed percent: −1 = bids within
        1% below mid), ``notional_usd`` (cumulative from mid).
    bands : sequence of int
        Band widths in percent (each must be in the data as ±b).
    change_ms : int, optional
        Also give each column's change against the snapshot ``change_ms`` earlier (the last one at or
        before ``t − change_ms``), as a fraction.

    Returns
    -------
    polars.DataFrame
        ``venue, canonical, ts_ms``, and per band ``b``: ``bid_<b>pct_usd``, ``ask_<b>pct_usd``,
        ``depth_<b>pct_usd`` (both sides) and ``bid_share_<b>pct`` (bid / both; above 0.5 the book leans
        to the bid); with ``change_ms``: ``depth_<b>pct_change`` and ``bid_<b>pct_change``.
    """
    require(depth, ("ts_ms", "band_pct", "notional_usd"), "depth_bands")
    keys = keys_of(depth, KEYS)
    wanted = [float(s * b) for b in bands for s in (-1, 1)]
    d = depth.filter(pl.col("band_pct").is_in(wanted))
    wide = d.pivot(on="band_pct", index=[*keys, "ts_ms"], values="notional_usd", aggregate_function="last")
    cols = []
    for b in bands:
        bid, ask = pl.col(str(float(-b))), pl.col(str(float(b)))
        cols += [
            bid.alias(f"bid_{b}pct_usd"),
            ask.alias(f"ask_{b}pct_usd"),
            (bid + ask).alias(f"depth_{b}pct_usd"),
        ]
    for b in bands:
        missing = [c for c in (str(float(-b)), str(float(b))) if c not in wide.columns]
        if missing:
            wide = wide.with_columns([pl.lit(None, dtype=pl.Float64).alias(c) for c in missing])
    out = sort_series(wide.select(*keys, "ts_ms", *cols), keys)
    out = out.with_columns(
        [(pl.col(f"bid_{b}pct_usd") / pl.col(f"depth_{b}pct_usd")).alias(f"bid_share_{b}pct") for b in bands]
    )
    if change_ms is None:
        return out
    window(change_ms)  # validates the length
    ref_cols = [f"depth_{b}pct_usd" for b in bands] + [f"bid_{b}pct_usd" for b in bands]
    ref = out.select(
        *keys, (pl.col("ts_ms") + pl.duration(milliseconds=change_ms)).alias("_ref_t"), *ref_cols
    ).rename({c: f"_ref_{c}" for c in ref_cols})
    joined = out.join_asof(
        ref, left_on="ts_ms", right_on="_ref_t", by=keys or None, strategy="backward", check_sortedness=False
    )
    return joined.with_columns(
        [
            (pl.col(f"depth_{b}pct_usd") / pl.col(f"_ref_depth_{b}pct_usd") - 1).alias(f"depth_{b}pct_change")
            for b in bands
        ]
        + [
            (pl.col(f"bid_{b}pct_usd") / pl.col(f"_ref_bid_{b}pct_usd") - 1).alias(f"bid_{b}pct_change")
            for b in bands
        ]
    ).drop("_ref_t", *(f"_ref_{c}" for c in ref_cols))
