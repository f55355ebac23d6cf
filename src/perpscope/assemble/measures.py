"""One function per measure of the market view: price and flow of the price venue; open interest and
liquidations summed per bar over the stored series covering the scope; funding of one venue or
OI-weighted across several. Each fills the :class:`~perpscope.assemble.view_model.MarketView` it is
given (rules: :mod:`perpscope.assemble.view`, ``docs/sources.md``)."""

from __future__ import annotations

import numpy as np
import polars as pl

from perpscope.assemble.cover import Cover, Unit, cover
from perpscope.assemble.scope import label_venues, ordered, venue_mask
from perpscope.assemble.view_model import (
    _8H,
    TS,
    MarketView,
    Part,
    agg_symbol,
    ms_of,
    part_of,
    relabel,
    stored_venues,
)
from perpscope.core.time import DAY_MS, interval_label
from perpscope.metrics.bars import (
    liquidation_bars,
    resample_candles,
    resample_liquidation_totals,
    resample_taker_volume,
)
from perpscope.metrics.stitch import stitch_bars, stitch_snapshots
from perpscope.store import Lake
from perpscope.store.reader import read


def prices(lk: Lake, view: MarketView, lo: int) -> None:
    pv, canon, every, hi = view.price_venue, view.canonical, view.every_ms, view.end_ms
    spot_canon = canon.rsplit("-", 1)[0] + "-SPOT"
    candles: list[pl.DataFrame] = []
    taker: list[pl.DataFrame] = []
    for market, c in (("perp", canon), ("spot", spot_canon)):
        rows = read(lk, "candles", venue=pv, symbol=c, market=market, start_ms=lo, end_ms=hi)
        for (pt,), part in rows.partition_by("price_type", as_dict=True).items() if rows.height else []:
            grid, coarse = stitch_bars(part, every, resample_candles)
            measure = "spot" if market == "spot" else ("price" if pt == "trade" else str(pt))
            if grid.height:
                used = grid["from_ms"].unique().to_list()
                view.parts.append(part_of(measure, pv, c, part, used))
                if measure == "price" and grid["taker_buy_quote"].is_not_null().any():
                    view.parts.append(part_of("perp_taker", pv, c, part.drop_nulls("taker_buy_quote"), used))
                candles.append(relabel(grid.drop("from_ms"), view, c))
            if coarse.height:
                prev = view.coarse.get("candles")
                view.coarse["candles"] = pl.concat(
                    [x for x in (prev, coarse) if x is not None], how="diagonal_relaxed"
                )
                lens = sorted(int(x) for x in coarse["interval_ms"].unique())
                names = "·".join(interval_label(x) for x in lens)
                view.notes.append(
                    f"{measure}: {coarse.height} {pv} {c} bar(s) of {names} "
                    f"where nothing finer than {interval_label(every)} exists: not on the "
                    f"{interval_label(every)} grid (--every {interval_label(lens[0])} shows them)"
                )
        tv_canon = [c] if market == "spot" else [c, agg_symbol(c)]
        for tc in tv_canon:
            tv = read(lk, "taker_volume", venue=pv, symbol=tc, market=market, start_ms=lo, end_ms=hi)
            if not tv.height:
                continue
            grid, _ = stitch_bars(tv, every, resample_taker_volume)
            if grid.height:
                view.parts.append(part_of(f"{market}_taker", pv, tc, tv, grid["from_ms"].unique().to_list()))
                taker.append(relabel(grid.drop("from_ms", "complete"), view, c))
                if tc != c:
                    view.notes.append(f"perp taker flow: {pv} {tc} (all {view.coin} contracts) used for {c}")
                break
    if candles:
        view.frames["candles"] = pl.concat(candles, how="diagonal_relaxed")
    if taker:
        view.frames["taker_volume"] = pl.concat(taker, how="diagonal_relaxed")
    ratios = read(lk, "long_short_ratios", venue=pv, symbol=canon, start_ms=lo - DAY_MS, end_ms=hi)
    if ratios.height:
        kept = [stitch_snapshots(p) for p in ratios.partition_by("kind")]
        r = pl.concat(kept).sort("ts_ms")
        view.parts.append(part_of("long_short_ratios", pv, canon, r, r["interval_ms"].unique().to_list()))
        view.frames["long_short_ratios"] = relabel(r, view)


# -- open interest: summed over the units that cover the scope ---------------------------------------


def _chosen_parts(cov: Cover, parts: dict[tuple[str, ...], Part], in_range: np.ndarray) -> list[Part]:
    """The parts of the units the cover added at least once in the range (the others fed nothing)."""
    bits = int(np.bitwise_or.reduce(cov.chosen[in_range])) if in_range.any() else 0
    names = {u.name for i, u in enumerate(cov.units) if bits >> i & 1}
    return [p for p in parts.values() if f"{p.venue} {p.canonical}" in names]


def _unit_order(view: MarketView, venue: str, canonical: str, bits: dict[str, int]) -> tuple[int, int, int]:
    covered = label_venues(venue)
    size = 1 << 20 if covered is None else len(covered)
    is_pair = canonical == view.canonical
    # one venue: its pair first, then its coin aggregate; several: coins first (they are what is summed)
    pair_rank = (0 if is_pair else 1) if view.scope.single else (1 if is_pair else 0)
    order = {v: i for i, v in enumerate(ordered(list(bits) or [venue]))}
    return (-size, pair_rank, order.get(venue, len(order)))


def _candidates(lk: Lake, view: MarketView, record: str) -> list[tuple[str, str]]:
    out = []
    for c in (view.canonical, agg_symbol(view.canonical)):
        out += [(v, c) for v in stored_venues(lk, record, c) if view.scope.serves(v)]
    return out


def _cover(
    view: MarketView,
    units: list[tuple[tuple[int, ...], Unit]],
    parts: dict[tuple[str, ...], Part],
    grid_open: np.ndarray,
    columns: list[str],
) -> Cover | None:
    """The units that cover the scope per bar, in priority order, their ``columns`` summed; the chosen
    series' parts join the view. None when no series was stored."""
    if not units:
        return None
    units.sort(key=lambda x: x[0])
    cov = cover([u for _, u in units], grid_open.size, columns)
    view.parts += _chosen_parts(cov, parts, grid_open >= view.start_ms)
    return cov


def _scope_frame(view: MarketView, **columns: object) -> pl.DataFrame:
    """A record frame of the view's scope (its label as venue, its canonical symbol) with ``columns`` in
    their order; ``ts_ms`` (ms) cast to the store's timestamp type."""
    head = {"venue": view.scope.label, "symbol": view.canonical, "canonical": view.canonical}
    return pl.DataFrame(head | columns).with_columns(pl.col("ts_ms").cast(TS))


def _asof(grid_end: np.ndarray, t: np.ndarray, vals: np.ndarray, max_age: int) -> np.ndarray:
    """Per bar end, the last value stamped at or before it and no older than ``max_age`` ms (else NaN)."""
    i = np.searchsorted(t, grid_end, side="right") - 1
    out = np.full(grid_end.size, np.nan)
    ok = i >= 0
    ok[ok] = grid_end[ok] - t[i[ok]] <= max_age
    out[ok] = vals[i[ok]]
    return out


def _snapshot_age(rows: pl.DataFrame, every: int) -> int:
    """Longest a snapshot stays usable: twice its sampling interval (a day for irregular ones)."""
    iv = int(rows.get_column("interval_ms").max() or 0)  # type: ignore[arg-type]
    return max(2 * iv, every) if iv else max(DAY_MS, every)


def open_interest(lk: Lake, view: MarketView, lo: int, grid_open: np.ndarray) -> None:
    every = view.every_ms
    grid_end = grid_open + every
    bits: dict[str, int] = {}
    units: list[tuple[tuple[int, ...], Unit]] = []
    parts: dict[tuple[str, ...], Part] = {}
    for v, c in _candidates(lk, view, "open_interest"):
        rows = read(lk, "open_interest", venue=v, symbol=c, start_ms=lo - 2 * DAY_MS, end_ms=view.end_ms)
        if not rows.height:
            continue
        rows = stitch_snapshots(rows)
        t, age = ms_of(rows), _snapshot_age(rows, every)
        vals = {
            col: _asof(grid_end, t, rows.get_column(col).cast(pl.Float64).fill_null(np.nan).to_numpy(), age)
            for col in ("oi_usd", "oi_base")
        }
        vals = {"_has": np.where(np.isnan(vals["oi_usd"]) & np.isnan(vals["oi_base"]), np.nan, 1.0), **vals}
        unit = Unit(v, c, venue_mask(v, bits), vals)
        units.append((_unit_order(view, v, c, bits), unit))
        used = rows.filter(pl.col("ts_ms").dt.epoch("ms") >= lo)
        if used.height:
            parts[(v, c)] = part_of("open_interest", v, c, used, used["interval_ms"].unique().to_list())
    cov = _cover(view, units, parts, grid_open, ["_has", "oi_usd", "oi_base"])
    if cov is None:
        return
    has = ~np.isnan(cov.sums["_has"])
    view.frames["open_interest"] = _scope_frame(
        view,
        interval_ms=every,
        ts_ms=grid_end[has],  # known at the bar's end: the bar that ends here may use it
        oi_base=cov.sums["oi_base"][has],
        oi_usd=cov.sums["oi_usd"][has],
    ).with_columns(pl.col("oi_base").fill_nan(None), pl.col("oi_usd").fill_nan(None))
    view.covers["open_interest"] = pl.DataFrame({"ts_ms": grid_open, "cover": cov.labels()}).with_columns(
        pl.col("ts_ms").cast(TS)
    )
    # per venue for the stacked chart: each single venue's first series in priority order (its coin
    # figure or its pair, not both); a one-venue scope has nothing to stack
    singles = list(
        {
            u.venue: u
            for _, u in reversed(units)
            if label_venues(u.venue) is not None and len(label_venues(u.venue) or ()) == 1
        }.values()
    )
    if singles and not view.scope.single:
        view.by_venue["open_interest"] = (
            pl.concat(
                [
                    pl.DataFrame({"ts_ms": grid_open, "venue": u.venue, "oi_usd": u.values["oi_usd"]})
                    for u in singles
                ]
            )
            .with_columns(pl.col("ts_ms").cast(TS), pl.col("oi_usd").fill_nan(None))
            .drop_nulls("oi_usd")
        )


# -- liquidations: summed per bar over the units that cover the scope -------------------------------


def _totals_on_grid(rows: pl.DataFrame, view: MarketView, grid_open: np.ndarray) -> dict[str, np.ndarray]:
    every = view.every_ms
    grid, coarse = stitch_bars(rows, every, resample_liquidation_totals)
    long_ = np.full(grid_open.size, np.nan)
    short = np.full(grid_open.size, np.nan)
    whole = np.full(grid_open.size, np.nan)  # 1 = every source bar of the bar present, 0 = partial
    lo = int(grid_open[0]) if grid_open.size else 0

    def put(t: np.ndarray, lv: np.ndarray, sv: np.ndarray, cv: np.ndarray | None = None) -> None:
        i = (t - lo) // every
        ok = (i >= 0) & (i < grid_open.size)
        long_[i[ok]] = lv[ok]
        short[i[ok]] = sv[ok]
        whole[i[ok]] = 1.0 if cv is None else cv[ok]

    if grid.height:
        put(
            ms_of(grid),
            grid["long_usd"].to_numpy(),
            grid["short_usd"].to_numpy(),
            grid["complete"].to_numpy() * 1.0,
        )
    if coarse.height:
        # a total longer than the bar is known at its period's end: it goes whole into the bar where the
        # period ends; the period's other bars are 0 from this series, so nothing else fills them twice
        t, iv = ms_of(coarse), coarse["interval_ms"].to_numpy()
        for k in range(int((iv // every).max())):
            put(t + k * every, np.zeros(t.size), np.zeros(t.size))
        end_bar = t + iv - every
        put(end_bar, coarse["long_usd"].to_numpy(), coarse["short_usd"].to_numpy())
    return {"long": long_, "short": short, "whole": whole}


def liquidations(lk: Lake, view: MarketView, lo: int, grid_open: np.ndarray) -> None:
    every, hi = view.every_ms, view.end_ms
    bits: dict[str, int] = {}
    units: list[tuple[tuple[int, ...], Unit]] = []
    parts: dict[tuple[str, ...], Part] = {}
    for record, kind in (("liquidation_totals", 0), ("liquidations", 1)):
        for v, c in _candidates(lk, view, record):
            rows = read(lk, record, venue=v, symbol=c, start_ms=lo, end_ms=hi)
            if not rows.height:
                continue
            if kind == 0:
                vals = _totals_on_grid(rows, view, grid_open)
                lens = rows["interval_ms"].unique().to_list()
            else:
                lb = liquidation_bars(every, rows)
                vals = {k: np.full(grid_open.size, np.nan) for k in ("long", "short", "whole")}
                i = (ms_of(lb) - lo) // every
                ok = (i >= 0) & (i < grid_open.size)
                vals["long"][i[ok]] = lb["liq_long_usd"].to_numpy()[ok]
                vals["short"][i[ok]] = lb["liq_short_usd"].to_numpy()[ok]
                vals["whole"][i[ok]] = 1.0
                lens = [0]
            order = _unit_order(view, v, c, bits)
            # totals (every bar of a period, zeros included) before events (only bars with one)
            units.append(((order[0], kind, order[1], order[2]), Unit(v, c, venue_mask(v, bits), vals)))
            parts[(v, c, str(kind))] = part_of("liquidations", v, c, rows, lens)
            if kind == 1 and v == "binance":
                view.notes.append(
                    f"liquidations: {v} {c} events are Binance's force-order stream, at most one per symbol "
                    "per second: a lower bound"
                )
    cov = _cover(view, units, parts, grid_open, ["long", "short", "whole"])
    if cov is None:
        return
    has = ~np.isnan(cov.sums["long"])
    view.frames["liquidation_totals"] = _scope_frame(
        view,
        interval_ms=every,
        ts_ms=grid_open[has],
        long_usd=cov.sums["long"][has],
        short_usd=cov.sums["short"][has],
    )
    n_units = np.bitwise_count(cov.chosen)
    partial = has & (cov.sums["whole"] < n_units)  # a chosen series lacked part of the bar (e.g. data ends)
    view.covers["liquidations"] = pl.DataFrame(
        {"ts_ms": grid_open, "cover": cov.labels(), "partial": partial}
    ).with_columns(pl.col("ts_ms").cast(TS))


# -- funding: the venue's own, or OI-weighted across the scope's venues -----------------------------


def _venue_funding(lk: Lake, view: MarketView, venue: str, lo: int, hi: int) -> None:
    """One venue's funding: the pair's rows, and the coin's figure (``BASE-AGG-PERP``) outside the span
    of the pair's rows (where the pair has none), so a range running over both gets both."""
    ts = pl.col("ts_ms").dt.epoch("ms")
    kept: list[pl.DataFrame] = []
    span: tuple[int, int] | None = None
    for c in (view.canonical, agg_symbol(view.canonical)):
        rows = read(lk, "funding", venue=venue, symbol=c, start_ms=lo - 2 * DAY_MS, end_ms=hi)
        if span is not None and rows.height:  # the coin's figure only before or after the pair's rows
            rows = rows.filter((ts < span[0]) | (ts > span[1]))
        if not rows.height:
            continue
        view.parts.append(part_of("funding", venue, c, rows, rows["interval_ms"].unique().to_list()))
        if c != view.canonical:
            where = "" if span is None else " where the pair has none"
            view.notes.append(f"funding: {venue} {c} (the coin's figure) used for {view.canonical}{where}")
        else:
            t = rows.select(ts.min().alias("a"), (ts + pl.col("interval_ms")).max().alias("b")).row(0)
            span = (int(t[0]), int(t[1]))
        kept.append(rows)
    if kept:
        view.frames["funding"] = relabel(pl.concat(kept, how="diagonal_relaxed").sort("ts_ms"), view)


def funding(lk: Lake, view: MarketView, lo: int, grid_open: np.ndarray) -> None:
    every, hi = view.every_ms, view.end_ms
    if view.scope.single:
        _venue_funding(lk, view, view.scope.single, lo, hi)
        return
    grid_end = grid_open + every
    per_venue: dict[str, np.ndarray] = {}
    fparts: dict[str, Part] = {}
    weighted_all: np.ndarray | None = None
    for v, c in _candidates(lk, view, "funding"):
        if v in per_venue:
            continue  # the pair came first; the venue's coin figure only where it has no pair
        rows = read(lk, "funding", venue=v, symbol=c, start_ms=lo - 2 * DAY_MS, end_ms=hi)
        if not rows.height:
            continue
        rows = rows.sort("ts_ms")
        r8 = (rows["rate"] * _8H / rows["interval_ms"].clip(lower_bound=1)).to_numpy()
        t = ms_of(rows)
        # usable for twice the longer of its interval and its sampling step (an hourly rate sampled
        # every 8 h by a vendor stays valid until the next sample)
        step = int(np.median(np.diff(t))) if t.size > 1 else 0
        vals = _asof(grid_end, t, r8, max(2 * max(int(rows["interval_ms"].max() or _8H), step), every))  # type: ignore[arg-type]
        fparts[v] = part_of("funding", v, c, rows, rows["interval_ms"].unique().to_list())
        if label_venues(v) is None:
            if v == "all-oi-weighted":
                weighted_all = vals
            continue
        per_venue[v] = vals
    if not per_venue and weighted_all is None:
        return
    oi = view.by_venue.get("open_interest")
    names = ordered(list(per_venue))
    rates = np.vstack([per_venue[v] for v in names]) if names else np.empty((0, grid_open.size))
    weights = np.full_like(rates, np.nan)
    if oi is not None:
        for k, v in enumerate(names):
            w = oi.filter(pl.col("venue") == v)
            if w.height:
                idx = (ms_of(w) - int(grid_open[0])) // every
                weights[k, idx] = w["oi_usd"].to_numpy()
    present = ~np.isnan(rates)
    n = present.sum(axis=0)
    all_w = (present & ~np.isnan(weights)).sum(axis=0) == n
    wsum = np.where(present & ~np.isnan(weights), weights, 0.0).sum(axis=0)
    wmean = np.where(present & ~np.isnan(weights), rates * np.nan_to_num(weights), 0.0).sum(
        axis=0
    ) / np.where(wsum > 0, wsum, np.nan)
    mean = np.where(n > 0, np.nansum(np.where(present, rates, 0.0), axis=0) / np.maximum(n, 1), np.nan)
    rate = np.where(all_w & (wsum > 0), wmean, mean)
    # one label per distinct (method, venue count, all-exchange figure used): a few strings, gathered
    use = (
        ~np.isnan(weighted_all) if weighted_all is not None and view.scope.is_all else np.zeros(n.size, bool)
    )
    if use.any():  # CoinGlass's all-exchange OI-weighted rate first
        rate = np.where(use, weighted_all, rate)  # type: ignore[arg-type]
    code = np.where(use, -1, np.where(n == 0, 0, n * 2 + (all_w & (wsum > 0))))
    uniq, inv = np.unique(code, return_inverse=True)
    texts = [
        "all-oi-weighted (all exchanges)" if c == -1 else "" if c == 0
        else f"{'OI-weighted' if c % 2 else 'mean'} over {c // 2} venue(s)"
        for c in uniq.tolist()
    ]  # fmt: skip
    labels = pl.Series("cover", texts).gather(inv)
    # the series that fed a bar of the range: the all-exchange figure where used, the venues elsewhere
    r = grid_open >= view.start_ms
    used = {v for v in names if (~use & r & ~np.isnan(per_venue[v])).any()}
    used |= {"all-oi-weighted"} if (use & r).any() else set()
    view.parts += [p for v, p in fparts.items() if v in used]
    has = ~np.isnan(rate)
    view.frames["funding"] = _scope_frame(
        view, ts_ms=grid_end[has], rate=rate[has], interval_ms=_8H, kind="sampled"
    )
    view.covers["funding"] = pl.DataFrame({"ts_ms": grid_open, "cover": labels}).with_columns(
        pl.col("ts_ms").cast(TS)
    )
    view.by_venue["funding"] = (
        pl.concat(
            [pl.DataFrame({"ts_ms": grid_open, "venue": v, "rate_8h": per_venue[v]}) for v in names]
            or [pl.DataFrame(schema={"ts_ms": pl.Int64, "venue": pl.String, "rate_8h": pl.Float64})]
        )
        .with_columns(pl.col("ts_ms").cast(TS), pl.col("rate_8h").fill_nan(None))
        .drop_nulls("rate_8h")
    )
    view.notes.append(
        "funding across venues: per 8h, OI-weighted where every venue's OI is known, else the plain mean"
    )
