"""The API's computed views: metric series (downsampled server-side), heatmap, regimes, cascade, and the
dashboard's one-call bundle of all of them.

Each view is a plain JSON-ready dict of columns (``{"ts_ms": [...], "close": [...]}``): compact, and the
same shape the dashboard and the self-contained report draw from.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from perpscope.api import model_views
from perpscope.api.json_response import encode
from perpscope.api.methods import METHODS
from perpscope.api.params import ApiError, Limits, check_range, pick_every
from perpscope.api.source import DataSource
from perpscope.assemble import StoreInputError
from perpscope.assemble.heatmap import auto_model, heatmap_frames
from perpscope.assemble.panel import MarketPanel
from perpscope.assemble.records import price_span
from perpscope.assemble.regime_reading import RegimeReading, regime_reading
from perpscope.assemble.scope import Scope
from perpscope.assemble.view import default_window, finest_price_bar_ms, resolve_canonical, scope_venues
from perpscope.core.time import DAY_MS, interval_label
from perpscope.heatmap import BracketError, HeatmapRun, hot_zones, liquidation_map, model_inputs, run_model
from perpscope.heatmap.calibration import describe
from perpscope.heatmap.display import coarse_book
from perpscope.heatmap.inputs import HeatmapInputError

#: Panel columns the dashboard draws (those the panel has are sent).
SERIES_COLUMNS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "volume_usd",
    "funding_rate",
    "funding_interval_ms",
    "funding_rate_8h",
    "funding_sampled_8h",
    "funding_apr",
    "funding_z",
    "oi_usd",
    "oi_base",
    "oi_usd_chg_1d",
    "liq_long_usd",
    "liq_short_usd",
    "liq_usd",
    "liq_count",
    "liq_burst",
    "liq_usd_z",
    "perp_spot_ratio",
    "spot_volume_usd",
    "taker_imbalance",
)


def warm_up() -> None:
    """Pay the server process's one-time costs before the first view is asked for.

    The first dashboard request of a fresh server spent 1.4 of its 2.1 s (profiled, a year of 5m bars)
    not computing but setting numba up: its CPU target's registries, a BLAS check that imports
    scipy.linalg, and each compiled kernel loaded from numba's on-disk cache on its first call. Calling
    the panel's kernels once on a few numbers does all of that; the views then only compute. The
    heatmap kernel is loaded here too (its first load cost a first request 0.13 s, profiled).
    """
    from perpscope.heatmap.kernel import numba_kernel
    from perpscope.metrics import grid_windows as gw

    x = np.array([1.0, 2.0, np.nan, 4.0])
    starts = np.array([0, x.size], dtype=np.int64)
    gw.grid_sum(x, starts, 2)
    gw.grid_trailing_z(x, starts, 2, 2)
    gw.grid_corr(x, x, starts, 2, 2)
    gw.grid_quantile(x, starts, 2, 0.5, 1)
    # two bars, one leverage, four price bins: the compiled heatmap kernel loaded from numba's cache
    one, lev = np.ones(2), np.ones((2, 1))
    numba_kernel(one + 1, one, one, one, one, one, lev * 0.9, lev * 1.1, np.ones(1), 0.0, 1.0, 4, one > 0)


#: Perps whose views :func:`precompute` computes at start (a store of hundreds would fill the answer cache
#: with views nobody asked for, and keep a core busy for minutes).
PRECOMPUTED_PERPS = 8


def precompute(src: DataSource, limits: Limits, cascade: model_views.CascadeProvider | None = None) -> None:
    """What a fresh server computes before its first visitor (:func:`perpscope.api.app.create_app` runs it
    in the warm-up thread after :func:`warm_up`), per store version: the store's catalogue; for the
    :data:`PRECOMPUTED_PERPS` perps of longest history their default dashboard view (the latest 30 days:
    panel, regimes with their warm-up and flows, heatmap, cascade) — what the dashboard opens on — and
    their whole history up to the last candle (where every range asked up to now ends, sharing its
    cascade); then the home screener. A symbol the store cannot read is left to its request (which says
    why)."""
    from perpscope.api.screener import screener_answer

    perps = [r for r in src.symbols().iter_rows(named=True) if str(r["canonical"]).endswith("-PERP")]
    # the longest histories first (the main coins), and no more than the answer cache keeps beside the
    # requests' own answers (each perp leaves about 16 entries: two views, their parts and encodings)
    perps.sort(key=lambda r: int(r["first_ms"]) - int(r["last_ms"]))
    for r in perps[:PRECOMPUTED_PERPS]:
        try:
            venue, canonical = str(r["venue"]), str(r["canonical"])
            dashboard_json(src, make_query(src, venue, canonical, None, None, limits), limits, cascade)
            # the whole history, up to the last candle: where every range asked up to now ends
            # (make_query), so they share its cascade and current reading
            whole = make_query(
                src, venue, canonical, int(r["first_ms"]), _data_end(src, venue, canonical), limits
            )
            dashboard_json(src, whole, limits, cascade)
        except (ApiError, StoreInputError):
            continue
    screener_answer(src)


@dataclass(frozen=True)
class Query:
    """One validated view request: venue, canonical symbol, ``[start_ms, end_ms)`` and bar cap."""

    venue: str
    canonical: str
    start_ms: int
    end_ms: int
    max_points: int


def make_query(
    src: DataSource,
    venue: str,
    symbol: str,
    start_ms: int | None,
    end_ms: int | None,
    limits: Limits,
    max_points: int | None = None,
) -> Query:
    """Resolve the symbol within the venue scope (404 if the store has nothing for it) and fill the range
    (default: the latest 30 days where price, open interest and funding coexist). A range asked past the
    end of the symbol's last candle ends there: the bars after it are empty, and what a view reads "at
    the end" (the cascade, the current regime reading) is the latest state, shared by every range asked
    up to now (the server computes it at start, :func:`precompute`) instead of a state over a window
    the store holds nothing of the end of."""
    try:
        canon, pv = resolve_canonical(src.lake, symbol, Scope.parse(venue))
        # nothing asked: the latest stretch where price, OI and funding coexist; a start only: to the end
        hi = _default_end(src, venue, canon) if end_ms is None else end_ms
        data_end = _data_end(src, venue, canon)
    except StoreInputError as e:
        raise ApiError(404, str(e)) from e
    first, last = src.span(pv, canon)
    end = last + 1 if end_ms is None and start_ms is not None else hi
    start = start_ms if start_ms is not None else max(first, end - 30 * DAY_MS)
    if start < data_end < end:
        end = data_end
    check_range(start, end, limits)
    return with_points(Query(venue, canon, start, end, limits.default_points), limits, max_points)


def _default_end(src: DataSource, venue: str, canonical: str) -> int:
    """The end of the default window (:func:`~perpscope.assemble.view.default_window`), cached per store
    version (it reads the price, OI and funding instants of the whole history)."""
    return src.cached(
        ("default_end", venue, canonical), lambda: default_window(src.lake, canonical, venue, 30 * DAY_MS)[1]
    )


def _data_end(src: DataSource, venue: str, canonical: str) -> int:
    """The end of the scope's last perp trade candle of ``canonical``, ms UTC (cached per store version)."""
    return src.cached(("data_end", venue, canonical), lambda: price_span(src.lake, venue, canonical).end_ms)


def with_points(q: Query, limits: Limits, max_points: int | None) -> Query:
    """``q`` with the bar cap ``max_points`` (None: the default), checked against the limits (422)."""
    mp = limits.default_points if max_points is None else max_points
    if not 10 <= mp <= limits.max_points:
        raise ApiError(422, f"max_points must be between 10 and {limits.max_points}; got {mp}")
    return replace(q, max_points=mp)


def _ms_cols(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        [pl.col(c).dt.epoch("ms") for c, t in df.schema.items() if isinstance(t, pl.Datetime)]
    )


def columns(df: pl.DataFrame) -> dict[str, list[Any]]:
    """A frame as JSON-ready columns (instants as int ms UTC, NaN as null)."""
    df = _ms_cols(df).fill_nan(None)
    return {c: df.get_column(c).to_list() for c in df.columns}


#: Records whose ``interval_ms`` is a bar length that must fit whole into the panel's bars.
_BAR_RECORDS = ("taker_volume", "liquidation_totals")


def _fitting(df: pl.DataFrame, every: int = 0, record: str = "") -> pl.DataFrame | None:
    """``None`` for an empty frame; for bar records, only the rows whose bars fit whole into ``every``."""
    if df.is_empty():
        return None
    if every and record in _BAR_RECORDS:
        iv = pl.col("interval_ms")
        df = df.filter((iv > 0) & (iv <= every) & (every % iv == 0))
    return df if df.height else None


def _finest_in_range(src: DataSource, q: Query) -> int:
    """The finest perp trade candle length stored for the query's venue and symbol in its range, ms
    (cached: the panel and the heatmap both ask)."""
    fin = src.cached(
        ("finest", q.venue, q.canonical, q.start_ms, q.end_ms),
        lambda: finest_price_bar_ms(src.lake, q.canonical, q.venue, q.start_ms, q.end_ms),
    )
    if fin is None:
        raise ApiError(404, "no perp trade candles in this range; pick a range inside the symbol's coverage")
    return fin


def reading_of(src: DataSource, q: Query) -> tuple[RegimeReading, int]:
    """The query's regime reading (:func:`~perpscope.assemble.regime_reading.regime_reading`: the market
    panel from the regime warm-up before the range, labels, flows) with the bar length chosen so the
    range holds at most ``max_points`` bars."""

    def make() -> tuple[RegimeReading, int]:
        every = pick_every(_finest_in_range(src, q), q.end_ms - q.start_ms, q.max_points)
        try:
            return regime_reading(src.lake, q.venue, q.canonical, q.start_ms, q.end_ms, every), every
        except StoreInputError as e:
            raise ApiError(404, str(e)) from e

    return src.cached(("reading", q), make)


def market(src: DataSource, q: Query) -> tuple[MarketPanel, int]:
    """The query's :class:`~perpscope.assemble.panel.MarketPanel` (every source and bar length of the
    store, stitched; its rows start :data:`~perpscope.assemble.regime_reading.REGIME_WARM_MS` before the
    range), with the bar length chosen so the range holds at most ``max_points`` bars."""
    rr, every = reading_of(src, q)
    return rr.market, every


def panel(src: DataSource, q: Query) -> tuple[pl.DataFrame, int]:
    """The metrics panel (:func:`perpscope.metrics.build_panel`) of the query (see :func:`market`);
    rows cut to ``[start, end)`` and to bars with a price."""
    mp, every = market(src, q)
    return mp.in_range(mp.priced), every


def series_view(src: DataSource, q: Query, cols: list[str] | None = None) -> dict[str, Any]:
    """Metric series of the query: ``{"every_ms", "columns": {name: [...]}}``."""
    p, every = panel(src, q)
    # ts_ms is always sent first; a column asked twice is sent once (a repeated name is not an error)
    want = [c for c in dict.fromkeys(cols or SERIES_COLUMNS) if c in p.columns and c != "ts_ms"]
    ls = [c for c in p.columns if c.startswith("ls_")] if cols is None else []
    return {
        "venue": q.venue,
        "canonical": q.canonical,
        "every_ms": every,
        "every": interval_label(every),
        "rows": p.height,
        "columns": columns(p.select("ts_ms", *want, *ls)),
        "provenance": market(src, q)[0].provenance_json(),
    }


def _heatmap_run(src: DataSource, q: Query) -> tuple[HeatmapRun, pl.DataFrame]:
    # the bar length from the finest stored candles and the range (≤ 1,000 bars), then the market view's
    # stitched inputs at that length: a 5-minute stretch inside an hourly history does not shrink the map
    every = pick_every(_finest_in_range(src, q), q.end_ms - q.start_ms, 1_000)
    f = heatmap_frames(src.lake, q.venue, q.canonical, q.start_ms, q.end_ms, every_ms=every)
    candles = f["candles"]
    if candles.is_empty():
        raise ApiError(404, "no perp trade candles in this range; pick a range inside the symbol's coverage")
    bars = model_inputs(
        candles,
        _fitting(f["open_interest"]),
        _fitting(f["funding"]),
        _fitting(f["long_short_ratios"]),
        _fitting(f["taker_volume"]),
        every_ms=every,
    )
    return run_model(auto_model(bars), bars), bars


def heatmap_view(src: DataSource, q: Query, limits: Limits, zones: int = 5) -> dict[str, Any]:
    """The liquidation heatmap of the query's range (model chosen as ``perpscope heatmap`` does):
    a coarse grid (snapshots × price rows, USD of both sides), the current map and the hot zones."""

    def make() -> dict[str, Any]:
        try:
            run, bars = _heatmap_run(src, q)
        except (StoreInputError, HeatmapInputError, BracketError) as e:
            # the store lacks a model input for this range, or the venue has no margin brackets
            return {"available": False, "reason": str(e)}
        lo = float(bars["low"].min()) * 0.85  # type: ignore[arg-type]
        hi = float(bars["high"].max()) * 1.15  # type: ignore[arg-type]
        book = coarse_book(
            run.snapshot_ts_ms,
            run.grid.mids,
            run.out.grid_long + run.out.grid_short,
            lo=lo,
            hi=hi,
            rows=limits.heatmap_prices,
            max_cols=limits.heatmap_times,
        )
        if book.empty:
            return {
                "available": False,
                "reason": f"the model placed no positions over these {bars.height} bars "
                f"({describe(run.model)}): it needs more history of volume or open interest",
            }
        z = hot_zones(run, k=zones)
        m = liquidation_map(run).filter(pl.col("price_mid").is_between(lo, hi))
        return {
            "available": True,
            "model": describe(run.model),
            "last_close": run.last_close,
            "every_ms": int(run.interval_ms),
            "ts_ms": [int(t) for t in book.ts_ms],
            "price_mid": book.price_mid.round(8).tolist(),
            "usd": book.usd.astype(np.float64).round(0).tolist(),  # rows = price, columns = time (plotly's z)
            "zones": columns(z),
            "current_map": columns(m.select("price_mid", "long_usd", "short_usd"))
            if m.height <= 4000
            else {},
        }

    return src.cached(("heatmap", q, zones), make)


#: Venues drawn as their own band in the stacked OI chart; the rest are summed into one.
OI_BANDS = 7


def by_venue_view(src: DataSource, q: Query) -> dict[str, Any]:
    """Per venue on the panel's bars: ``open_interest`` (USD, stacked by the dashboard) and ``funding``
    (rate per 8 h, the venue × time grid), each ``{"ts_ms": [...], "<venue>": [...], ...}`` in wide form;
    a figure is left out when the scope has one venue's only, or none in the range."""
    mp, every = market(src, q)
    out: dict[str, Any] = {}
    for name, col in (("open_interest", "oi_usd"), ("funding", "rate_8h")):
        f = mp.view.by_venue.get(name)
        if f is None or f.get_column("venue").n_unique() < 2:
            continue
        f = f.filter(pl.col("ts_ms").dt.epoch("ms").is_between(q.start_ms, q.end_ms - 1))
        if f.is_empty():  # the venues' series end before the range (on the shared store: Dec 2025 →)
            continue
        wide = f.pivot(on="venue", index="ts_ms", values=col).sort("ts_ms")
        venues = [c for c in wide.columns if c != "ts_ms"]
        # OI: venues by their latest size, the biggest at the bottom; beyond the largest OI_BANDS, one band
        # "others (n)" (22 bands are unreadable, on a phone most of all)
        if name == "open_interest":
            last = wide.select([pl.col(v).drop_nulls().last() for v in venues]).row(0)
            venues = [v for _, v in sorted(zip(last, venues, strict=True), key=lambda x: -(x[0] or 0))]
            if len(venues) > OI_BANDS + 1:
                rest = venues[OI_BANDS:]
                other = f"others ({len(rest)})"
                wide = wide.with_columns(pl.sum_horizontal(rest).alias(other))
                venues = [*venues[:OI_BANDS], other]
        out[name] = {"every_ms": every, "venues": venues, "columns": columns(wide.select("ts_ms", *venues))}
    return out


def cascade_of(src: DataSource, q: Query, cascade: model_views.CascadeProvider | None) -> dict[str, Any]:
    """The cascade view at the query's end (:func:`~perpscope.api.model_views.cascade_view`), cached by
    venue, symbol and end only: the curve does not depend on ``from``, so ranges that share an end share
    it (0.17 s of CPU for BTC on the store of the whole shared data; 2.4 s before the ensemble's books
    kept only their final heatmap book)."""
    return src.cached(
        ("cascade", q.venue, q.canonical, q.end_ms, cascade is not None),
        lambda: model_views.cascade_view(cascade, q.venue, q.canonical, q.end_ms),
    )


def dashboard_view(
    src: DataSource, q: Query, limits: Limits, cascade: model_views.CascadeProvider | None = None
) -> dict[str, Any]:
    """Everything the dashboard (and the report) draws for one symbol and range, in one answer.

    The heatmap and the cascade read neither the regime reading nor each other: they are computed on two
    threads beside it (polars and the numba kernels release the GIL), so a range nobody asked before
    waits for the longest of the three on a free core, not for their sum."""

    def make() -> dict[str, Any]:
        with ThreadPoolExecutor(2, thread_name_prefix="perpscope-dashboard") as parts:
            heat = parts.submit(src.cache.nested(lambda: heatmap_view(src, q, limits)))
            casc = parts.submit(src.cache.nested(lambda: cascade_of(src, q, cascade)))
            try:
                rr, _ = reading_of(src, q)
                series, by_venue = series_view(src, q), by_venue_view(src, q)
                venues = ["all", *scope_venues(src.lake, q.canonical)]
                regimes = model_views.regimes_view(rr)
            except BaseException:
                # a range without candles (404): the parts not started yet are not run
                heat.cancel()
                casc.cancel()
                raise
            return {
                "venue": q.venue,
                "canonical": q.canonical,
                "from_ms": q.start_ms,
                "to_ms": q.end_ms,
                "series": series,
                "by_venue": by_venue,
                "venues": venues,
                "heatmap": heat.result(),
                "regimes": regimes,
                "cascade": casc.result(),
                "methods": METHODS,
            }

    return src.cached(("dashboard", q), make)


def dashboard_json(
    src: DataSource, q: Query, limits: Limits, cascade: model_views.CascadeProvider | None = None
) -> bytes:
    """:func:`dashboard_view` encoded as JSON, cached too: repeated requests (many viewers, polling) skip
    serialization."""
    return src.cached(("dashboard-json", q), lambda: encode(dashboard_view(src, q, limits, cascade)))
