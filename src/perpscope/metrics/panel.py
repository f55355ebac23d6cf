"""One per-bar table per venue and perp: price, volume, taker flow, funding, open interest, liquidations,
positioning and basis, joined point in time.

The panel is what regimes, reports and evaluations read. It is built from record frames of any number
of venues and symbols in one call; for a large universe, call it per chunk of symbols (it is a
function of its inputs only, so chunks can run in separate processes).

Point in time: a row ``ts_ms`` = bar open describes the bar ``[open, open + every)`` and uses only
what was known by the bar's end (see :mod:`perpscope.metrics.bars`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from perpscope.core.jit import njit
from perpscope.core.time import DAY_MS, WEEK_MS
from perpscope.metrics.bars import (
    asof_bars,
    bar_grid,
    finest,
    funding_bars,
    known_bar_open,
    liquidation_bars,
    resample_candles,
    resample_taker_volume,
    span_grid,
)
from perpscope.metrics.frames import KEYS, chunked_like, gather_rows, label, ms, pair_of, sort_series
from perpscope.metrics.funding import EXTREME_WINDOW_MS, funding_metrics, settled
from perpscope.metrics.grid_windows import as_float, finite_floats, grid_sum, to_series
from perpscope.metrics.liquidations import BURST_WINDOW_MS, BURST_Z, long_share, with_sampling
from perpscope.metrics.open_interest import (
    inconsistent_flags,
    oi_change,
    oi_to_volume,
    oi_volume_consistency,
)
from perpscope.metrics.panel_passes import event_bars, flow_pass, liquidation_pass
from perpscope.metrics.positioning import RATIO_WINDOW_MS
from perpscope.metrics.rolling import add_zscore, add_zscores, grid_zscore, regular_step
from perpscope.metrics.sorted_keys import asof_index, asof_keyed, pairs_ascending
from perpscope.metrics.string_runs import run_starts
from perpscope.metrics.volume import taker_flow

#: Dense integer id of a (venue, canonical) series inside one panel call, in (venue, canonical) order.
_SID = "_sid"
#: One int64 join key per series and bar: ``_sid × 2^42 + bar open (ms)``; joining on one integer is
#: ten times faster than on (venue, canonical, ts_ms).
_K = "_k"
_TS_BITS = 2**42
_TS_SHIFT = 42  # key >> 42 = the series id
_NO_OFFSET = np.empty(0, dtype=np.int64)  # asof_keyed: the left keys as they are


@dataclass(frozen=True)
class PanelConfig:
    """Windows and thresholds of the panel's metrics (defaults and reasons in each metric's module).

    Attributes
    ----------
    funding_window_ms : int
        Funding extremes look-back (30 days, :data:`perpscope.metrics.funding.EXTREME_WINDOW_MS`).
    oi_change_windows_ms : tuple of int
        OI change look-backs (a day and a week).
    oi_volume_window_ms : int
        Volume window of OI / volume (a day).
    burst_window_ms, burst_z : int, float
        Liquidation burst baseline (30 days) and threshold (z ≥ 3 on ln(1 + USD)).
    ratio_window_ms : int
        Long/short ratio z-score look-back (30 days).
    min_samples : int
        Previous values needed before any score (30).
    cvd_reset_ms : int, optional
        Restart the CVDs at multiples of this length (None: cumulate over the panel).
    """

    funding_window_ms: int = EXTREME_WINDOW_MS
    oi_change_windows_ms: tuple[int, ...] = (DAY_MS, WEEK_MS)
    oi_volume_window_ms: int = DAY_MS
    burst_window_ms: int = BURST_WINDOW_MS
    burst_z: float = BURST_Z
    ratio_window_ms: int = RATIO_WINDOW_MS
    min_samples: int = 30
    cvd_reset_ms: int | None = None


_FUNDING_CARRY = {
    "rate": "funding_rate",
    "interval_ms": "funding_interval_ms",
    "rate_8h": "funding_rate_8h",
    "rate_apr": "funding_apr",
    "rate_8h_z": "funding_z",
    "rate_8h_pct": "funding_pct",
    "extreme": "funding_extreme",
    "sign": "funding_sign",
    "run_length": "funding_run",
    "crossing": "funding_crossing",
}


class _Runs:
    """The runs of rows of one series (one ``venue, canonical``) in a record frame: where each begins
    (then the frame's height) and its names, a row per run.

    Records come in long runs per series, so a series is found from the runs of its two key columns
    (:func:`~perpscope.metrics.string_runs.run_starts`) and named once per run: no per-row hash of the
    two strings and no per-row lookup (hashing both columns of a benchmark chunk's 2.6 M input rows and
    looking each row up cost 19 ms; this 9 ms)."""

    def __init__(self, df: pl.DataFrame, canonical: np.ndarray | None = None) -> None:
        """``canonical``: the run starts of the ``canonical`` column when the caller holds them."""
        canonical = run_starts(df.get_column("canonical")) if canonical is None else canonical
        starts = np.union1d(run_starts(df.get_column("venue")), canonical)
        self.bounds = np.append(starts, df.height).astype(np.int64, copy=False)
        self.names = df.select(*KEYS).gather(starts)

    def per_row(self, per_run: np.ndarray) -> np.ndarray:
        """A value per run → the same value on each of its rows."""
        return np.repeat(per_run, np.diff(self.bounds))


class _Ids:
    """The panel's series and their dense ids; attaches ``_sid`` to any frame of those series."""

    def __init__(self, runs: list[_Runs]) -> None:
        uniq = pl.concat([r.names for r in runs]).unique().sort(list(KEYS))
        self.table = uniq.with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias(_SID),
            pair_of(pl.col("canonical")).alias("_pair"),
        )

    def _sids(self, runs: _Runs) -> np.ndarray:
        """The ``_sid`` of each run (-1: a series not in the table)."""
        named = runs.names.join(
            self.table.select(*KEYS, _SID), on=list(KEYS), how="left", nulls_equal=True, maintain_order="left"
        )
        return named.get_column(_SID).fill_null(-1).to_numpy()

    def attach(self, df: pl.DataFrame, runs: _Runs | None = None) -> tuple[pl.DataFrame, np.ndarray]:
        """``df`` with ``_sid`` (rows of other series dropped), and the ids as an array."""
        runs = runs if runs is not None else _Runs(df)
        per_run = self._sids(runs)
        codes = runs.per_row(per_run)
        out = df.with_columns(chunked_like(_SID, codes, df.get_column("venue")))
        if (per_run >= 0).all():  # every run has rows: checked per run, not per row
            return out, codes
        return out.filter(pl.col(_SID) >= 0), codes[codes >= 0]

    def attach_spot(self, df: pl.DataFrame, canonical: np.ndarray | None = None) -> pl.DataFrame:
        """Spot rows with the ``_sid`` of every perp of the same venue and pair (a row per perp);
        ``canonical``: as :class:`_Runs`'."""
        runs = _Runs(df, canonical)
        spot = (
            runs.names.with_row_index("_run")
            .unique(list(KEYS), keep="first", maintain_order=True)  # a series may come back in a later run
            .with_columns(pair_of(pl.col("canonical")).alias("_pair"))
        )
        link = spot.join(self.table.select("venue", "_pair", _SID), on=["venue", "_pair"], how="inner")
        if link.select(pl.struct(*KEYS).is_unique().all()).item():
            # one perp per spot series (the usual case): an id per run, not a join of every spot row
            per_run = runs.names.join(
                link.select(*KEYS, _SID), on=list(KEYS), how="left", nulls_equal=True, maintain_order="left"
            )
            ids = per_run.get_column(_SID).fill_null(-1).to_numpy()
            out = df.with_columns(chunked_like(_SID, runs.per_row(ids), df.get_column("venue")))
            return out if (ids >= 0).all() else out.filter(pl.col(_SID) >= 0)
        # the spot series of each row (its first run's number), joined to every perp of its pair
        first = runs.names.join(
            spot.select(*KEYS, "_run"), on=list(KEYS), how="left", nulls_equal=True, maintain_order="left"
        )
        series = pl.Series("_spot", runs.per_row(first.get_column("_run").to_numpy()))
        return df.with_columns(series).join(
            link.select(pl.col("_run").alias("_spot"), _SID), on="_spot", how="inner", maintain_order="left"
        )


def _key(ts: str = "ts_ms") -> pl.Expr:
    return (pl.col(_SID) * _TS_BITS + ms(ts)).alias(_K)


def _add(panel: pl.DataFrame, right: pl.DataFrame, cols: Sequence[pl.Expr | str]) -> pl.DataFrame:
    """Left-join per-bar columns of ``right`` (``_sid``, ``ts_ms`` = bar open) onto the panel.

    When ``right`` holds exactly the panel's bars in the panel's order (complete candles), its columns
    are attached as they are: the join would only reproduce them.
    """
    r = right.select(_key(), *cols)
    if r.height == panel.height and (r.get_column(_K) == panel.get_column(_K)).all():
        return panel.with_columns(r.drop(_K).get_columns())
    rk = r.get_column(_K)
    keys = rk.to_numpy()
    if rk.null_count() == 0 and bool(np.all(keys[1:] > keys[:-1])):
        # right is sorted with one row per key (the bar tables are): a merge pass finds each panel row's
        # match (an exact one: tolerance 0) and one gather places the columns, instead of a hash join
        pk = panel.get_column(_K).to_numpy()
        idx = asof_keyed(pk, _NO_OFFSET, keys, _TS_SHIFT, 0)
        return panel.with_columns(gather_rows(r.drop(_K), idx).get_columns())
    return panel.join(r, on=_K, how="left", maintain_order="left")


def _asof(
    panel: pl.DataFrame,
    snap: pl.DataFrame,
    cols: Sequence[str],
    stamp_col: str | None = None,
    found: tuple[pl.DataFrame, np.ndarray] | None = None,
) -> pl.DataFrame:
    """``asof_bars(_narrow(panel), snap, cols, stamp_col=stamp_col, by=[_SID])`` on the panel's own keys.

    ``found``: :func:`_asof_rows` of ``snap`` when the caller has it (snapshots on keys already
    matched); by default it is computed here.
    """
    found = found if found is not None else _asof_rows(panel, snap)
    if found is None:
        return asof_bars(_narrow(panel), sort_series(snap, [_SID]), cols, stamp_col=stamp_col, by=[_SID])
    snap, idx = found
    take = [*cols, pl.col("ts_ms").alias(stamp_col)] if stamp_col else list(cols)
    return _narrow(panel).with_columns(gather_rows(snap.select(take), idx).get_columns())


def _asof_rows(panel: pl.DataFrame, snap: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray] | None:
    """``snap`` sorted by series and time, and for each panel row the row of the last snapshot known
    by the bar's end (-1: none); None when a snapshot key is null (the general as-of join then runs).

    The panel is sorted by its key ``_k`` (series, bar open), so each bar's end is ``_k + interval``; a
    merge pass against the snapshots' keys finds the last one known by then, without the sort checks,
    key columns and renames of the general function.
    """
    keyed = _snapshot_keys(snap)
    if keyed is None:
        snap = sort_series(snap, [_SID])
        sk = snap.select(_key()).to_series()
        if sk.null_count():
            return None
        keys = sk.to_numpy()
    else:
        snap, keys = keyed
    pk = panel.get_column(_K).to_numpy()
    return snap, asof_keyed(pk, panel.get_column("interval_ms").to_numpy(), keys, _TS_SHIFT, -1)


def _same_keys(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """``a`` and ``b`` hold the same series ids and instants, row for row (as-of matches carry over)."""
    return (
        a.height == b.height
        and a.get_column(_SID).equals(b.get_column(_SID))
        and a.get_column("ts_ms").equals(b.get_column("ts_ms"))
    )


def _grid_step(df: pl.DataFrame) -> int | None:
    """:func:`regular_step` of a frame sorted by ``_sid`` and time, on the integers (its polars form
    took 1.7 ms for the 420 k rows of a ratio kind)."""
    sid, ts = df.get_column(_SID), df.get_column("ts_ms")
    if sid.dtype != pl.Int64 or ts.dtype != pl.Datetime("ms", "UTC") or sid.null_count() or ts.null_count():
        return regular_step(df, by=[_SID])
    s, t = sid.to_numpy(), ts.to_physical().to_numpy()
    d = (t[1:] - t[:-1])[s[1:] == s[:-1]]
    return int(d[0]) if d.size and d[0] > 0 and bool(np.all(d == d[0])) else None


def _snapshot_keys(snap: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray] | None:
    """``snap`` sorted by series and time, with its keys ``_k`` as an array, computed on the integers
    (a sortedness check and a key column in polars cost 1–2 ms per 420 k snapshots); None when a key
    is null or the instants are not ms (the polars form then runs)."""
    sid, ts = snap.get_column(_SID), snap.get_column("ts_ms")
    if sid.dtype != pl.Int64 or ts.dtype != pl.Datetime("ms", "UTC") or sid.null_count() or ts.null_count():
        return None
    s, t = sid.to_numpy(), ts.to_physical().to_numpy()
    if not pairs_ascending(s, t):
        snap = snap.sort([_SID, "ts_ms"])  # sort_series' sort
        s, t = snap.get_column(_SID).to_numpy(), snap.get_column("ts_ms").to_physical().to_numpy()
    return snap, s * _TS_BITS + t


def _narrow(panel: pl.DataFrame, *cols: str) -> pl.DataFrame:
    return panel.select(_SID, "ts_ms", "interval_ms", *cols)


def _hstack(panel: pl.DataFrame, part: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    """Columns computed on a narrow copy of the panel (same rows, same order) back onto it."""
    return panel.with_columns(part.select(cols).get_columns())


def _extremes(
    df: pl.DataFrame, every: int, n_series: int, *, snapshot: bool, sid: np.ndarray | None = None
) -> pl.DataFrame:
    """The first and last instant of each series of ``df`` (``_sid, ts_ms``): all the grid needs.

    A snapshot's instant is moved to the open of the first bar that may use it
    (:func:`~perpscope.metrics.bars.known_bar_open`); that map never decreases, so it is applied to the
    two extremes instead of to every row. ``n_series``: the panel's series count (``_sid`` < it);
    ``sid``: the ``_sid`` column as an array, when the caller holds it.
    """
    ts = pl.col("ts_ms")
    stamps = df.get_column("ts_ms")
    if stamps.null_count() == 0 and df.height:
        # one compiled pass over the dense ids (a hash group-by cost 2.5× as much on the 1.3 M rows of a
        # chunk's long/short ratios), chunk by chunk: a column of several chunks as one array is a copy
        ids = sid if sid is not None else df.get_column(_SID).to_numpy()
        lo = np.full(n_series, np.iinfo(np.int64).max, dtype=np.int64)
        hi = np.full(n_series, np.iinfo(np.int64).min, dtype=np.int64)
        seen = np.zeros(n_series, dtype=np.bool_)
        at = 0
        for chunk in stamps.to_physical().get_chunks():
            _span_of(ids[at : at + chunk.len()], chunk.to_numpy(), lo, hi, seen)
            at += chunk.len()
        sid = np.flatnonzero(seen)
        ext = pl.DataFrame(
            {_SID: sid, "_lo": lo[sid], "_hi": hi[sid]}, schema_overrides={_SID: pl.Int64}
        ).with_columns(pl.col("_lo", "_hi").cast(stamps.dtype))
    else:
        ext = df.group_by(_SID).agg(ts.min().alias("_lo"), ts.max().alias("_hi"))
    out = pl.concat([ext.select(_SID, pl.col(c).alias("ts_ms")) for c in ("_lo", "_hi")])
    return out.with_columns(known_bar_open("ts_ms", every).alias("ts_ms")) if snapshot else out


def _bar_spans(
    df: pl.DataFrame, every: int, n_series: int, *, snapshot: bool, sid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_extremes` as arrays, already turned into bars as :func:`bar_grid` turns them: the ids
    of the series present and the opens (ms) of the bars of their first and last instants (of the
    first bars allowed to use them, for snapshots). None when a stamp is null or not in ms (the frame
    form runs). ``sid``: the ``_sid`` column as an array."""
    stamps = df.get_column("ts_ms")
    dtype = stamps.dtype
    if not df.height or stamps.null_count() or not isinstance(dtype, pl.Datetime) or dtype.time_unit != "ms":
        return None
    lo = np.full(n_series, np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full(n_series, np.iinfo(np.int64).min, dtype=np.int64)
    seen = np.zeros(n_series, dtype=np.bool_)
    at = 0
    for chunk in stamps.to_physical().get_chunks():  # a column of several chunks as one array is a copy
        _span_of(sid[at : at + chunk.len()], chunk.to_numpy(), lo, hi, seen)
        at += chunk.len()
    ids = np.flatnonzero(seen).astype(np.int64)
    first, last = lo[ids], hi[ids]
    if snapshot:  # known_bar_open: the bar whose end is at or after the stamp
        first = (first + every - 1) // every * every - every
        last = (last + every - 1) // every * every - every
    return ids, first // every * every, last // every * every  # bar_open, as bar_grid takes it


@njit(cache=True, nogil=True)
def _span_of(sid, ts, lo, hi, seen):  # type: ignore[no-untyped-def]  # numba
    """Smallest and largest ``ts`` per series id ``0 ≤ sid < n`` into ``lo`` and ``hi`` (length n, as
    they stand), and which ids occur into ``seen``. Rows come in runs of one id: a run's extremes are
    kept in locals and written when it ends (a read and write of ``lo[s]`` and ``hi[s]`` per row chained
    every row to the one before through memory: 2 -> 0.7 ns a row)."""
    n = sid.shape[0]
    if n == 0:
        return
    cur, c_lo, c_hi = sid[0], ts[0], ts[0]
    for i in range(1, n + 1):
        if i < n and sid[i] == cur:
            t = ts[i]
            c_lo = min(c_lo, t)
            c_hi = max(c_hi, t)
            continue
        lo[cur] = min(lo[cur], c_lo)
        hi[cur] = max(hi[cur], c_hi)
        seen[cur] = True
        if i < n:
            cur, c_lo, c_hi = sid[i], ts[i], ts[i]


def _runs(col: pl.Series) -> tuple[np.ndarray, list[str | None]]:
    """Where each run of equal values of a string column starts (then the column's length) and its value
    (:func:`~perpscope.metrics.string_runs.run_starts`: 0.5 ms for the 840 k candle rows' price types
    of a panel chunk, read from the string views, where hashing the strings took 1.5 ms)."""
    starts = run_starts(col)
    return np.append(starts, col.len()), col.gather(starts).to_list()


def _where(df: pl.DataFrame, col: str, keep: Callable[[str], bool]) -> pl.DataFrame:
    """The rows of ``df`` whose ``col`` (string) passes ``keep`` (a null never does), in their order.

    Record frames hold each market in one run of rows (perps, then spot; trade, then mark prices), so
    the rows kept are usually one block: a slice shares the columns instead of copying them as a
    filter does (two filters of the 840 k candle rows of a chunk cost 10 ms).
    """
    return _where_at(df, col, keep)[0]


def _where_at(
    df: pl.DataFrame, col: str, keep: Callable[[str], bool], starts: np.ndarray | None = None
) -> tuple[pl.DataFrame, int | None]:
    """:func:`_where`, and the row of ``df`` where the rows kept begin when they are one block (else
    None). ``starts``: the run starts of ``col`` when the caller holds them."""
    if df.height == 0:
        return df, 0
    column = df.get_column(col)
    starts = run_starts(column) if starts is None else starts
    bounds, values = np.append(starts, df.height), column.gather(starts).to_list()
    kept = np.array([v is not None and keep(v) for v in values])
    if kept.all():
        return df, 0
    if not kept.any():
        return df.clear(), 0
    first, last = np.flatnonzero(kept)[[0, -1]]
    if kept[first : last + 1].all():
        return df.slice(int(bounds[first]), int(bounds[last + 1] - bounds[first])), int(bounds[first])
    return df.filter(pl.Series(np.repeat(kept, np.diff(bounds)))), None


def _starts_within(starts: np.ndarray, at: int | None, n: int) -> np.ndarray | None:
    """The run starts of rows ``at … at + n`` of a column whose run starts are ``starts``, counted from
    ``at`` (None when ``at`` is: the rows are not one block)."""
    if at is None:
        return None
    inside = starts[(starts >= at) & (starts < at + n)] - at
    return inside if not n or (inside.shape[0] and inside[0] == 0) else np.concatenate(([0], inside))


def _is_not_spot(canonical: str) -> bool:
    return not canonical.endswith("-SPOT")


def _not_spot(df: pl.DataFrame) -> pl.DataFrame:
    return _where(df, "canonical", _is_not_spot)


def build_panel(
    every_ms: int,
    *,
    candles: pl.DataFrame | None = None,
    funding: pl.DataFrame | None = None,
    open_interest: pl.DataFrame | None = None,
    liquidations: pl.DataFrame | None = None,
    liquidation_totals: pl.DataFrame | None = None,
    taker_volume: pl.DataFrame | None = None,
    long_short_ratios: pl.DataFrame | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    config: PanelConfig | None = None,
) -> pl.DataFrame:
    """Join every metric into one row per venue, perp and bar.

    Parameters
    ----------
    every_ms : int
        Bar length, ms; a multiple of the candle, taker-volume and liquidation-total intervals.
    candles, funding, open_interest, liquidations, liquidation_totals, taker_volume, long_short_ratios
        Record frames (any may be None); spot candles and spot taker volume of the same venue and pair
        feed the spot columns.
    start_ms, end_ms : int, optional
        Keep bars with ``start_ms ≤ open < end_ms``. Metrics with look-backs only see the bars kept,
        so pass the history you want scored against and cut the rows afterwards.
    config : PanelConfig, optional
        Windows and thresholds (defaults: :class:`PanelConfig`).

    Returns
    -------
    polars.DataFrame
        One row per ``venue, canonical`` (perps and dated futures) and bar ``ts_ms``, sorted, with
        ``interval_ms`` and, where the inputs allow:

        - price and volume: ``open, high, low, close, volume_base, volume_usd, trades, complete``;
        - perp taker flow: ``taker_buy_usd, taker_sell_usd, taker_delta_usd, cvd_usd, taker_imbalance``;
        - spot: ``spot_close, spot_volume_usd, spot_taker_delta_usd, spot_cvd_usd,
          spot_taker_imbalance, perp_spot_ratio, perp_share, basis_spot``; ``index_close, basis_index,
          mark_close, premium``;
        - funding (last settlement known by the bar's end): ``funding_rate, funding_interval_ms,
          funding_rate_8h, funding_apr, funding_z, funding_pct, funding_extreme, funding_sign,
          funding_run, funding_ts_ms``; in the bar of a settlement: ``funding_paid`` (Σ rate),
          ``funding_flow_usd`` and ``funding_crossing``; from sampled (not settled) rates:
          ``funding_sampled_8h``, the latest observed rate per 8h;
        - open interest (last snapshot known by the bar's end): ``oi_base, oi_usd, oi_ts_ms,
          oi_usd_chg_<w>, oi_base_chg_<w>, oi_to_volume_<w>, oi_inconsistent``;
        - liquidations: ``liq_long_usd, liq_short_usd, liq_usd, liq_long_share, liq_count,
          liq_max_usd, liq_usd_z, liq_burst, liq_complete, liq_sampling``;
        - positioning: ``ls_<kind>`` and ``ratio_z_<kind>`` per long/short ratio kind.

    Notes
    -----
    Each column's formula is in the function that computes it (``perpscope.metrics.*``) and in
    ``docs/metrics.md``. Liquidation columns are null before a series' first liquidation (no data is
    not zero liquidations) and 0 on later bars without one.
    """
    cfg = config or PanelConfig()
    every = every_ms
    cb = resample_candles(candles, every) if candles is not None and candles.height else None
    # the price types' runs, found once: the trade rows here, the reference prices' in _prices_and_flow
    types = run_starts(cb.get_column("price_type")) if cb is not None and cb.height else None
    trade = _where_at(cb, "price_type", "trade".__eq__, types)[0] if cb is not None else None
    perp_c = spot_c = perp_canon = spot_canon = None
    if trade is not None:
        # the trade candles' canonical runs, found once (hashing 840 k names of a chunk costs 2 ms): the
        # perp and spot rows are usually blocks of them, whose runs are then known too
        canon = run_starts(trade.get_column("canonical"))
        perp_c, perp_at = _where_at(trade, "canonical", _is_not_spot, canon)
        spot_c, spot_at = _where_at(trade, "market", "spot".__eq__)
        perp_canon = _starts_within(canon, perp_at, perp_c.height)
        spot_canon = _starts_within(canon, spot_at, spot_c.height)
    tv = (
        resample_taker_volume(taker_volume, every)
        if taker_volume is not None and taker_volume.height
        else None
    )
    tv_perp = _not_spot(tv) if tv is not None else None
    sources = {
        "candles": perp_c,
        # funding, open interest, liquidations and ratios exist for derivatives only: no spot filter
        "funding": funding,
        "oi": finest(open_interest, KEYS) if open_interest is not None else None,
        "liq": liquidations,
        "tot": liquidation_totals,
        "ratios": long_short_ratios,
        "taker": tv_perp,
    }
    present = {k: v for k, v in sources.items() if v is not None and v.height}
    if not present:
        raise ValueError(
            "build_panel: every input is empty or None; pass at least one record frame of a perp"
        )
    runs = {k: _Runs(v, perp_canon if k == "candles" else None) for k, v in present.items()}
    ids = _Ids(list(runs.values()))
    attached = {k: ids.attach(v, runs[k]) for k, v in present.items()}
    src = {k: f for k, (f, _) in attached.items()}
    snapshots = ("funding", "oi", "ratios")  # usable from the bar ending at or after their stamp
    n_ids = ids.table.height
    bars = [_bar_spans(f, every, n_ids, snapshot=k in snapshots, sid=attached[k][1]) for k, f in src.items()]
    if all(b is not None for b in bars):
        # each source's first and last bar per series, as arrays: the grid without a frame per source
        sid, lo, hi = (np.concatenate([b[j] for b in bars if b is not None]) for j in range(3))
        grid = span_grid(_SID, sid, lo, hi, every, start_ms=start_ms, end_ms=end_ms)
    else:
        spans = [
            _extremes(f, every, n_ids, snapshot=k in snapshots, sid=attached[k][1]) for k, f in src.items()
        ]
        grid = bar_grid(every, *spans, start_ms=start_ms, end_ms=end_ms, by=[_SID])
    # the series' names by id (the table's row i is id i): a gather, where a join cost 5× as much
    at = pl.Series(grid.get_column(_SID).to_numpy().astype(np.uint32, copy=False), dtype=pl.UInt32)
    panel = grid.with_columns(_key(), *ids.table.select(*KEYS)[at].get_columns())
    starts = _series_starts(panel)  # the rows of each series: the same on every column added below
    panel = _prices_and_flow(
        panel, src.get("candles"), src.get("taker"), (cb, types), (spot_c, spot_canon), tv, ids, cfg, starts
    )
    if "funding" in src:
        panel = _funding(panel, src["funding"], src.get("oi"), every, cfg)
    if "oi" in src:
        panel = _open_interest(panel, src["oi"], src.get("candles"), every, cfg, starts)
    if "liq" in src or "tot" in src:
        venues = ids.table.get_column("venue").unique().to_list()  # a row per series: a few
        panel = _liquidations(panel, src.get("liq"), src.get("tot"), every, cfg, venues, starts)
    if "ratios" in src:
        panel = _ratios(panel, src["ratios"], cfg)
    lead = ["venue", "canonical", "ts_ms", "interval_ms"]
    return panel.select(*lead, *[c for c in panel.columns if c not in (*lead, _SID, _K)])


def _usd(candles: pl.DataFrame, prefix: str) -> pl.Expr:
    """``<prefix>_quote`` (USD), or ``<prefix>_base × close`` where it is null: the quote column alone
    when it holds no null (the same values, without computing the product for every row)."""
    quote = f"{prefix}_quote"
    if quote in candles.columns and candles.get_column(quote).null_count() == 0:
        return pl.col(quote)
    return pl.coalesce(pl.col(quote), pl.col(f"{prefix}_base") * pl.col("close"))


def _prices_and_flow(
    panel: pl.DataFrame,
    perp_c: pl.DataFrame | None,
    tv_perp: pl.DataFrame | None,
    resampled: tuple[pl.DataFrame | None, np.ndarray | None],
    spot: tuple[pl.DataFrame | None, np.ndarray | None],
    tv: pl.DataFrame | None,
    ids: _Ids,
    cfg: PanelConfig,
    starts: np.ndarray,
) -> pl.DataFrame:
    """Price, volume, taker flow and spot columns; ``resampled``: the resampled candles of every price
    type and their ``price_type`` run starts, ``spot``: the spot trade candles and their canonical run
    starts (None: not known), ``starts``: the panel's series starts."""
    spot_c, spot_canon = spot
    # Quote volumes where the source has them; a source that gives base volume only (the spot klines of
    # SOURCES.md §13 carry no quote or taker columns) is valued at the bar's close, base × close, USD —
    # off from the bar's VWAP by at most its high–low range, where no USD figure would drop the measure
    has_taker = False
    if perp_c is not None:
        buy, quote = _usd(perp_c, "taker_buy"), _usd(perp_c, "volume")
        cols: list[pl.Expr | str] = [
            "open",
            "high",
            "low",
            "close",
            "volume_base",
            quote.alias("volume_usd"),
            "trades",
            "complete",
        ]
        if perp_c.select(buy.null_count()).item() < perp_c.height:
            cols += [buy.alias("taker_buy_usd"), (quote - buy).alias("taker_sell_usd")]
            has_taker = True
        panel = _add(panel, perp_c, cols)
    if not has_taker and tv_perp is not None:
        panel = _add(
            panel,
            tv_perp,
            [pl.col("buy_usd").alias("taker_buy_usd"), pl.col("sell_usd").alias("taker_sell_usd")],
        )
        has_taker = True
    if has_taker:
        panel = _flow(panel, "taker_buy_usd", "taker_sell_usd", "", cfg, starts)

    spot_taker = False
    if spot_c is not None and spot_c.height:
        buy, quote = _usd(spot_c, "taker_buy"), _usd(spot_c, "volume")
        cols = [pl.col("close").alias("spot_close"), quote.alias("spot_volume_usd")]
        if spot_c.select(buy.null_count()).item() < spot_c.height:
            cols += [buy.alias("_spot_buy"), (quote - buy).alias("_spot_sell")]
            spot_taker = True
        panel = _add(panel, ids.attach_spot(spot_c, spot_canon), cols)
    tv_spot = _where(tv, "market", "spot".__eq__) if tv is not None and not spot_taker else None
    if tv_spot is not None and tv_spot.height:
        st = ids.attach_spot(tv_spot)
        panel = _add(
            panel, st, [pl.col("buy_usd").alias("_spot_buy"), pl.col("sell_usd").alias("_spot_sell")]
        )
        spot_taker = True
    if spot_taker:
        panel = _flow(panel, "_spot_buy", "_spot_sell", "spot_", cfg, starts).drop("_spot_buy", "_spot_sell")
    if "spot_volume_usd" in panel.columns and "volume_usd" in panel.columns:
        p, s = pl.col("volume_usd"), pl.col("spot_volume_usd")
        panel = panel.with_columns(
            pl.when(s > 0).then(p / s).alias("perp_spot_ratio"),
            pl.when(p + s > 0).then(p / (p + s)).alias("perp_share"),
            (pl.col("close") / pl.col("spot_close") - 1.0).alias("basis_spot"),
        )
    cb, type_starts = resampled
    if cb is not None:
        column = cb.get_column("price_type")
        types = set(column.gather(type_starts).to_list() if type_starts is not None else _runs(column)[1])
        for pt, name in (("index", "index_close"), ("mark", "mark_close"), ("premium", "premium")):
            if pt not in types:
                continue
            ref = _not_spot(_where_at(cb, "price_type", pt.__eq__, type_starts)[0])
            if ref.height:
                panel = _add(panel, ids.attach(ref)[0], [pl.col("close").alias(name)])
        if "index_close" in panel.columns and "close" in panel.columns:
            panel = panel.with_columns((pl.col("close") / pl.col("index_close") - 1.0).alias("basis_index"))
    return panel


def _series_starts(panel: pl.DataFrame) -> np.ndarray:
    """Row offsets where each series of the panel begins, then its height (from the keys ``_k``)."""
    sid = panel.get_column(_K).to_numpy() >> _TS_SHIFT
    heads = np.flatnonzero(sid[1:] != sid[:-1]) + 1
    return np.concatenate(([0], heads, [sid.shape[0]])).astype(np.int64)


def _flow_compiled(
    panel: pl.DataFrame, buy: str, sell: str, prefix: str, cfg: PanelConfig, starts: np.ndarray
) -> pl.DataFrame | None:
    """:func:`_flow`'s three columns in one compiled pass (:func:`flow_pass`) instead of
    :func:`taker_flow`'s sort check and four polars passes (about 5 → 1 ms on a benchmark chunk); the
    same operations on the same numbers. None when the polars form must run: CVD sessions, or taker
    volumes holding a NaN or an infinity. ``starts``: the panel's series starts (:func:`_series_starts`,
    computed once per panel: its rows never change once the grid is built)."""
    b, s = finite_floats(panel.get_column(buy)), finite_floats(panel.get_column(sell))
    if cfg.cvd_reset_ms is not None or b is None or s is None:
        return None
    delta, cvd, imb = flow_pass(b, s, starts)
    return panel.with_columns(
        to_series(f"{prefix}taker_delta_usd", delta),  # finite inputs: NaN only where buy or sell is null
        pl.Series(f"{prefix}cvd_usd", cvd),  # never null (nulls count 0)
        to_series(f"{prefix}taker_imbalance", imb),  # finite inputs: NaN only where there is no ratio
    )


def _flow(
    panel: pl.DataFrame, buy: str, sell: str, prefix: str, cfg: PanelConfig, starts: np.ndarray
) -> pl.DataFrame:
    compiled = _flow_compiled(panel, buy, sell, prefix, cfg, starts)
    if compiled is not None:
        return compiled
    n = _narrow(panel, buy, sell).rename({buy: "buy_usd", sell: "sell_usd"})
    f = taker_flow(n, reset_ms=cfg.cvd_reset_ms, by=[_SID])
    names = {
        "taker_delta_usd": f"{prefix}taker_delta_usd",
        "cvd_usd": f"{prefix}cvd_usd",
        "taker_imbalance": f"{prefix}taker_imbalance",
    }
    return _hstack(panel, f.rename(names), list(names.values()))


def _funding(
    panel: pl.DataFrame, funding: pl.DataFrame, oi: pl.DataFrame | None, every: int, cfg: PanelConfig
) -> pl.DataFrame:
    f = funding_metrics(funding, oi, window_ms=cfg.funding_window_ms, min_samples=cfg.min_samples, by=[_SID])
    if "kind" in f.columns:
        sampled = f.filter(pl.col("kind") == "sampled")
        if sampled.height:  # observed rates between settlements: the latest one, normalized
            snap = sampled.select(_SID, "ts_ms", pl.col("rate_8h").alias("funding_sampled_8h"))
            got = _asof(panel, snap, ["funding_sampled_8h"])
            panel = _hstack(panel, got, ["funding_sampled_8h"])
        f = settled(f)
    carry = {k: v for k, v in _FUNDING_CARRY.items() if k in f.columns}
    snap = f.select(_SID, "ts_ms", *[pl.col(k).alias(v) for k, v in carry.items()])
    got = _asof(panel, snap, list(carry.values()), stamp_col="funding_ts_ms")
    panel = _hstack(panel, got, [*carry.values(), "funding_ts_ms"])
    fb = funding_bars(f, every, by=[_SID])
    paid = [c for c in ("funding_paid", "funding_flow_usd") if c in fb.columns]
    known = pl.col("funding_rate").is_not_null()
    fill = []
    placed = _paid_in_bars(panel, fb, paid)
    if placed is None:
        panel = _add(panel, fb, paid)
        fill = [pl.when(known).then(pl.col(c).fill_null(0.0)).alias(c) for c in paid]
    else:
        panel = placed
    new = pl.col("funding_ts_ms") > pl.col("ts_ms")  # the settlement first known in this bar
    return panel.with_columns(
        *fill,
        pl.when(new).then(pl.col("funding_crossing")).otherwise(0).cast(pl.Int8).alias("funding_crossing"),
    )


def _paid_in_bars(panel: pl.DataFrame, fb: pl.DataFrame, paid: Sequence[str]) -> pl.DataFrame | None:
    """``_add(panel, fb, paid)`` then ``when(funding known).then(fill_null(0.0))`` per column, written
    straight into zeroed arrays: a bar without a settlement pays 0 once a rate is known, null before.

    About 1 bar in 96 has a settlement (8h funding on 5-minute bars), so the join's gather of a mostly
    null index and the fill pass cost ~2 ms per chunk for a scatter of 4.4 k values. None when the
    bars' keys are null or repeated or a column is not Float64 (the join form then runs).
    """
    r = fb.select(_key(), *[pl.col(c).fill_null(0.0) for c in paid])
    rk = r.get_column(_K)
    keys = rk.to_numpy()
    if (
        rk.null_count()
        or any(r.schema[c] != pl.Float64 for c in paid)
        or not bool(np.all(keys[1:] > keys[:-1]))
    ):
        return None
    idx = asof_keyed(panel.get_column(_K).to_numpy(), _NO_OFFSET, keys, _TS_SHIFT, 0)
    hit = np.flatnonzero(idx >= 0)
    at = idx[hit]
    unknown = panel.get_column("funding_rate").is_null()
    blank = unknown.any()
    cols = []
    for c in paid:
        values = np.zeros(panel.height)  # +0.0, as fill_null(0.0)
        values[hit] = r.get_column(c).to_numpy()[at]
        col = pl.Series(c, values)
        cols.append(col.set(unknown, None) if blank else col)
    return panel.with_columns(cols)


def _open_interest(
    panel: pl.DataFrame,
    oi: pl.DataFrame,
    perp_c: pl.DataFrame | None,
    every: int,
    cfg: PanelConfig,
    starts: np.ndarray,
) -> pl.DataFrame:
    """The open-interest columns; ``starts``: the panel's series starts (:func:`_series_starts`)."""
    cols = [c for c in ("oi_base", "oi_usd") if c in oi.columns]
    snap = oi.select(_SID, "ts_ms", *cols)
    found = _asof_rows(panel, snap)
    got = _asof(panel, snap, cols, stamp_col="oi_ts_ms", found=found)
    got = oi_change(got, cfg.oi_change_windows_ms, columns=cols, by=[_SID], step_ms=every)  # a gapless grid
    new = [c for c in got.columns if c not in (_SID, "ts_ms", "interval_ms")]
    panel = _hstack(panel, got, new)
    if "volume_usd" in panel.columns and "oi_usd" in cols:
        ratio = _oi_to_volume_compiled(panel, every, cfg, starts)
        if ratio is None:
            r = oi_to_volume(
                _narrow(panel, "oi_usd", "volume_usd"), cfg.oi_volume_window_ms, by=[_SID], step_ms=every
            )
            ratio = r.get_column(r.columns[-1])
        panel = panel.with_columns(ratio)
    if perp_c is not None and "oi_base" in cols:
        # the candles' columns the check reads (every row is a trade candle: nothing to filter)
        candles = perp_c.select(_SID, "ts_ms", "interval_ms", "volume_base")
        chk = _inconsistent(oi, candles)
        # the check's rows are the snapshots' (one sampling, sorted): their matches are known already
        reuse = (chk, found[1]) if found is not None and _same_keys(found[0], chk) else None
        got = _asof(panel, chk, ["oi_inconsistent"], stamp_col="_chk_ts", found=reuse)
        fresh = pl.col("_chk_ts") > pl.col("ts_ms")  # the snapshot first known in this bar
        panel = _hstack(
            panel, got.with_columns(pl.when(fresh).then(pl.col("oi_inconsistent"))), ["oi_inconsistent"]
        )
    return panel


def _inconsistent(oi: pl.DataFrame, candles: pl.DataFrame) -> pl.DataFrame:
    """``_sid, ts_ms, oi_inconsistent`` of :func:`oi_volume_consistency`, the flag alone when the
    compiled form applies (:func:`inconsistent_flags`: the three other columns are not built)."""
    flags = inconsistent_flags(oi, candles, by=[_SID])
    if flags is None:
        return oi_volume_consistency(oi, candles, by=[_SID]).select(_SID, "ts_ms", "oi_inconsistent")
    rows, flag, ok = flags
    col = pl.Series("oi_inconsistent", flag)
    return rows.select(_SID, "ts_ms").with_columns(col if ok.all() else col.set(pl.Series(~ok), None))


def _oi_to_volume_compiled(
    panel: pl.DataFrame, every: int, cfg: PanelConfig, starts: np.ndarray
) -> pl.Series | None:
    """:func:`oi_to_volume`'s column on the panel's gapless grid: its sliding volume sum
    (:func:`grid_sum`, as the function's) and one division, without its frame copies; None when the
    window is not a whole number of bars or the OI holds a NaN or an infinity (the function runs)."""
    w = cfg.oi_volume_window_ms
    oi_usd = finite_floats(panel.get_column("oi_usd"))
    if w % every or oi_usd is None:
        return None
    sums = grid_sum(as_float(panel, "volume_usd"), starts, w // every)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sums > 0, oi_usd / sums, np.nan)  # NaN: no volume, or no OI (null)
    return to_series(f"oi_to_volume_{label(w)}", ratio)


def _liquidations(
    panel: pl.DataFrame,
    liq: pl.DataFrame | None,
    tot: pl.DataFrame | None,
    every: int,
    cfg: PanelConfig,
    venues: list[str],
    starts: np.ndarray,
) -> pl.DataFrame:
    """The liquidation columns; ``starts``: the panel's series starts (:func:`_series_starts`)."""
    bars = _event_bars_compiled(liq, tot, every, cfg)
    lb = None
    if bars is None:
        lb = liquidation_bars(every, liq, tot, by=[_SID])
        bars = _bar_arrays(lb, every, cfg)
    if bars is not None:
        return with_sampling(_liquidation_columns(panel, bars, every, cfg, starts), venues=venues)
    assert lb is not None  # (no bars as arrays: they were built by polars)
    cols = ["liq_long_usd", "liq_short_usd", "liq_usd", "liq_count", "liq_max_usd"]
    panel = _add(panel, lb, cols)
    # from a series' first liquidation on, a bar without one had none (0); before it, nothing is known
    # (null). Only the past decides: a later liquidation never turns an earlier null into 0.
    first = lb.group_by(_SID).agg(ms("ts_ms").min().alias("lo"))
    lo = pl.col(_SID).replace_strict(first[_SID], first["lo"], default=None, return_dtype=pl.Int64)
    panel = panel.with_columns((ms("ts_ms") >= lo).fill_null(False).alias("_in"))
    panel = panel.with_columns(
        [pl.when("_in").then(pl.col(c).fill_null(0.0)).otherwise(pl.col(c)).alias(c) for c in cols[:3]]
    ).with_columns(pl.col("liq_usd").log1p().alias("_ll"))
    panel = add_zscore(
        panel,
        "_ll",
        "liq_usd_z",
        window_ms=cfg.burst_window_ms,
        by=[_SID],
        min_samples=cfg.min_samples,
        step_ms=every,  # the panel is a gapless grid of `every`
    )
    panel = panel.with_columns(
        long_share(pl.col("liq_long_usd"), pl.col("liq_short_usd")).alias("liq_long_share"),
    ).with_columns(
        pl.when("_in").then((pl.col("liq_usd_z") >= cfg.burst_z).fill_null(False)).alias("liq_burst")
    )
    panel = panel.drop("_in", "_ll")
    return with_sampling(panel, venues=venues)


#: A panel's liquidation bars as arrays: keys (``_k``) ascending, long, short and total USD (finite; NaN:
#: missing), and the count and largest event per bar (a frame, gathered as it is).
_LiqBars = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pl.DataFrame]


def _compiled_window(every: int, cfg: PanelConfig) -> bool:
    """The burst z-score's window spans at least 3 bars: the compiled liquidation columns apply."""
    return -(-cfg.burst_window_ms // every) - 1 >= 2


def _event_bars_compiled(
    liq: pl.DataFrame | None, tot: pl.DataFrame | None, every: int, cfg: PanelConfig
) -> _LiqBars | None:
    """:func:`liquidation_bars` of liquidation events alone, in one compiled pass (:func:`event_bars`)
    instead of a group-by and a sort of its output (10 → 1 ms on a benchmark chunk's 42 k events). None
    when the polars form must run: totals to merge, events not sorted by series and bar, a missing
    side or a notional that is missing, NaN or infinite."""
    if tot is not None or liq is None or not liq.height or not _compiled_window(every, cfg):
        return None
    if not {_SID, "ts_ms", "side", "notional_usd"} <= set(liq.columns) or liq.schema["side"] != pl.String:
        return None
    stamps, side = liq.get_column("ts_ms"), liq.get_column("side")
    notional = finite_floats(liq.get_column("notional_usd"))
    if notional is None or liq.get_column("notional_usd").null_count() or side.null_count():
        return None
    if stamps.null_count() or not isinstance(stamps.dtype, pl.Datetime) or stamps.dtype.time_unit != "ms":
        return None
    sid = liq.get_column(_SID).to_numpy()
    bar = stamps.to_physical().to_numpy() // every * every
    if not pairs_ascending(sid, bar):
        return None
    flags = liq.select((pl.col("side") == "long").alias("l"), (pl.col("side") == "short").alias("s"))
    b_sid, b_bar, long_, short, usd, count, largest = event_bars(
        sid, bar, notional, flags.get_column("l").to_numpy(), flags.get_column("s").to_numpy()
    )
    rest = pl.DataFrame({"liq_count": count, "liq_max_usd": largest})
    return b_sid * _TS_BITS + b_bar, long_, short, usd, rest


def _bar_arrays(lb: pl.DataFrame, every: int, cfg: PanelConfig) -> _LiqBars | None:
    """The bars of :func:`liquidation_bars` as arrays for :func:`_liquidation_columns`; None when the
    polars form must run (sums holding a NaN or an infinity, keys not strictly increasing)."""
    if not _compiled_window(every, cfg):
        return None
    bar_long, bar_short, bar_usd = (
        finite_floats(lb.get_column(c)) for c in ("liq_long_usd", "liq_short_usd", "liq_usd")
    )
    keys_s = lb.select(_key()).to_series()
    if bar_long is None or bar_short is None or bar_usd is None or keys_s.null_count():
        return None
    keys = keys_s.to_numpy()
    if not bool(np.all(keys[1:] > keys[:-1])):
        return None
    return keys, bar_long, bar_short, bar_usd, lb.select("liq_count", "liq_max_usd")


def _liquidation_columns(
    panel: pl.DataFrame, bars: _LiqBars, every: int, cfg: PanelConfig, starts: np.ndarray
) -> pl.DataFrame:
    """:func:`_liquidations`' columns in one compiled pass (:func:`liquidation_pass`) and the z-score
    kernel, instead of a join, six polars passes and two temporary columns (15 → 5 ms on a benchmark
    chunk); the same operations on the same numbers."""
    keys, bar_long, bar_short, bar_usd, rest = bars
    pk = panel.get_column(_K).to_numpy()
    p_sid, l_sid = pk >> _TS_SHIFT, keys >> _TS_SHIFT
    match = asof_index(pk, keys, p_sid, l_sid, 0)
    # each series' first liquidation bar: the bars are sorted, so the first row of each run of one id
    first = np.full(int(max(p_sid.max(initial=-1), l_sid.max(initial=-1))) + 1, np.iinfo(np.int64).max)
    heads = np.flatnonzero(np.concatenate(([True], l_sid[1:] != l_sid[:-1]))) if keys.shape[0] else keys
    first[l_sid[heads]] = keys[heads] & (_TS_BITS - 1)
    long_, short, usd, ll, share, inside = liquidation_pass(
        match, bar_long, bar_short, bar_usd, p_sid, pk & (_TS_BITS - 1), first
    )
    z = grid_zscore(ll, starts, cfg.burst_window_ms, every, cfg.min_samples)
    burst = pl.Series("liq_burst", z >= cfg.burst_z)  # NaN (no score) compares False: fill_null(False)
    return panel.with_columns(
        to_series("liq_long_usd", long_),
        to_series("liq_short_usd", short),
        to_series("liq_usd", usd),
        *gather_rows(rest, match).get_columns(),
        to_series("liq_usd_z", z),
        to_series("liq_long_share", share),
        # null before the series' first liquidation, as the polars form's when(_in)
        pl.when(pl.Series(inside)).then(burst).alias("liq_burst"),
    )


def _by_kind(ratios: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The rows of each long/short ratio ``kind``: slices when each kind is one run of rows (record
    frames concatenated kind by kind), filters otherwise (:func:`_runs`: 0.8 ms for the 1.3 M rows of a
    panel chunk, where comparing neighbouring strings cost 7 ms and a filter per kind 2 ms more each).
    """
    kind = ratios.get_column("kind")
    if kind.null_count() == 0:
        bounds, names = _runs(kind)
        if len(set(names)) == len(names):
            return {
                str(k): ratios.slice(int(a), int(b - a))
                for k, a, b in zip(names, bounds[:-1], bounds[1:], strict=True)
            }
    return {k: ratios.filter(pl.col("kind") == k) for k in kind.drop_nulls().unique().to_list()}


def _ratios(panel: pl.DataFrame, ratios: pl.DataFrame, cfg: PanelConfig) -> pl.DataFrame:
    by_kind = _by_kind(ratios)
    kinds = sorted(by_kind)
    parts = [sort_series(finest(by_kind[k], [_SID]), [_SID]) for k in kinds]
    # when every kind is stamped at the same instants (Binance's 5m ratios), side by side: one window
    # pass and one as-of join for all of them; otherwise one of each per kind
    aligned = all(
        p.height == parts[0].height
        and (p.get_column("ts_ms") == parts[0].get_column("ts_ms")).all()
        and (p.get_column(_SID) == parts[0].get_column(_SID)).all()
        for p in parts[1:]
    )
    groups = (
        [list(zip(kinds, parts, strict=True))] if aligned else [[kp] for kp in zip(kinds, parts, strict=True)]
    )
    for group in groups:
        r = group[0][1].select(_SID, "ts_ms")
        r = r.with_columns(
            [p.get_column("ratio").alias(f"ls_{k}") for k, p in group]
            + [
                pl.when(p.get_column("ratio") > 0).then(p.get_column("ratio").log()).alias(f"_lr_{k}")
                for k, p in group
            ]
        )
        r = add_zscores(
            r,
            {f"_lr_{k}": f"ratio_z_{k}" for k, _ in group},
            window_ms=cfg.ratio_window_ms,
            by=[_SID],
            min_samples=cfg.min_samples,
            step_ms=_grid_step(r),
        )
        cols = [c for k, _ in group for c in (f"ls_{k}", f"ratio_z_{k}")]
        snap = r.select(_SID, "ts_ms", *cols)
        got = _asof(panel, snap, cols)
        panel = _hstack(panel, got, cols)
    return panel
