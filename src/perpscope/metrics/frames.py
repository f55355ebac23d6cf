"""Frame helpers of the metrics (public: regimes reads the same frames): series keys, column checks,
instants as integers.

Every metric works on many series at once: a *series* is one ``venue`` + ``canonical`` pair
(:data:`KEYS`), and window functions run ``.over(KEYS)`` so 300 symbols go through in one call.
Instants are the records' ``Datetime("ms", "UTC")``; bar arithmetic is done on their int64 ms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

import numpy as np
import polars as pl

from perpscope.core.errors import PerpscopeError
from perpscope.metrics.sorted_keys import asof_index, pairs_ascending

#: The columns that identify one series: metrics never mix rows of different series.
KEYS: tuple[str, ...] = ("venue", "canonical")
#: Instants in every record frame and every metrics output.
TS = pl.Datetime("ms", "UTC")


class FrameError(PerpscopeError, ValueError):
    """A frame handed to a metric lacks what the metric needs (says what was expected and found)."""


def require(df: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise :class:`FrameError` naming the missing columns of ``df``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise FrameError(
            f"{what}: expected columns {missing}, found {df.columns}; "
            "pass a frame in the record schema (perpscope.records) or the output of the metric named"
        )


def keys_of(df: pl.DataFrame, by: Sequence[str] = KEYS) -> list[str]:
    """The series keys present in ``df`` (a frame may lack ``venue`` once aggregated across venues)."""
    return [k for k in by if k in df.columns]


def ms(col: str | pl.Expr) -> pl.Expr:
    """An instant column as int64 ms since the epoch."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.dt.epoch("ms")


def instant(expr: pl.Expr) -> pl.Expr:
    """int64 ms since the epoch → ``Datetime("ms", "UTC")``."""
    return expr.cast(pl.Int64).cast(TS)


def window(ms_: int) -> timedelta:
    """A window length in ms as the ``timedelta`` polars' ``*_by`` rolling functions take."""
    if ms_ <= 0:
        raise FrameError(f"a window must be a positive number of ms, got {ms_}")
    return timedelta(milliseconds=ms_)


def is_sorted_by(df: pl.DataFrame, columns: Sequence[str]) -> bool:
    """True when ``df`` is sorted by ``columns`` (lexicographic, ascending): an O(n) check, no sort."""
    if df.height < 2:
        return True
    pair = [df.get_column(c).to_physical() for c in columns] if len(columns) == 2 else []
    if pair and all(s.dtype == pl.Int64 and s.null_count() == 0 for s in pair):
        # a series id and an instant (every frame of the panel): one compiled pass over the two int64
        # columns, where the expression below takes four comparisons and two shifted copies (about 0.6 ms
        # per 420 k rows, a dozen times per panel chunk)
        return bool(pairs_ascending(pair[0].to_numpy(), pair[1].to_numpy()))
    ok = pl.col(columns[-1]) >= pl.col(columns[-1]).shift(1)
    for c in reversed(columns[:-1]):
        cur, prev = pl.col(c), pl.col(c).shift(1)
        ok = (cur > prev) | ((cur == prev) & ok)
    return bool(df.select(ok.slice(1).fill_null(False).all()).item())


def sort_series(df: pl.DataFrame, by: Sequence[str] = KEYS, time_col: str = "ts_ms") -> pl.DataFrame:
    """Sorted by series then time: what ``.over(keys)`` windows and as-of joins expect.

    A frame already in that order is not sorted again (checked in O(n); sorting a wide frame is not
    free). Either way the first column is flagged sorted, which turns ``.over()`` on it into one slice
    per series instead of a hash grouping.
    """
    cols = [*keys_of(df, by), time_col]
    if not is_sorted_by(df, cols):
        return df.sort(cols)
    return df.with_columns(pl.col(cols[0]).set_sorted()) if len(cols) > 1 else df


def label(ms_: int) -> str:
    """Short name of a duration for column suffixes: ``604800000`` → ``"7d"``."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms_ % size == 0 and ms_ >= size:
            return f"{ms_ // size}{unit}"
    return f"{ms_}ms"


def pair_of(canonical: pl.Expr) -> pl.Expr:
    """``"BTC-USDT-PERP"`` → ``"BTC-USDT"``: joins a perp to the spot market of the same pair."""
    return canonical.str.replace(r"-[^-]+$", "")


def base_of(canonical: pl.Expr) -> pl.Expr:
    """``"BTC-USDT-PERP"`` → ``"BTC"``: groups a coin's markets across quote currencies."""
    return canonical.str.extract(r"^([^-]+)-", 1)


def with_market_key(rows: pl.DataFrame, by: str, who: str) -> pl.DataFrame:
    """``rows`` ready to sum across venues by ``by``: ``"canonical"`` (one market) as it is, ``"base"``
    (every market of the coin, as CoinGlass aggregates) with a ``base`` column added."""
    if by == "base":
        return rows.with_columns(base_of(pl.col("canonical")).alias("base"))
    if by not in rows.columns:
        raise FrameError(f"{who}: by must be 'canonical' or 'base', got {by!r}")
    return rows


def over(expr: pl.Expr, by: Sequence[str]) -> pl.Expr:
    """``expr.over(by)``, or ``expr`` itself when there are no keys (one series)."""
    return expr.over(list(by)) if by else expr


def same_series(by: Sequence[str]) -> pl.Expr:
    """True where a row belongs to the same series as the row before it (frame sorted by ``by``)."""
    if not by:
        return pl.int_range(pl.len()) > 0
    return pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in by]).fill_null(False)


def lag(expr: pl.Expr, by: Sequence[str]) -> pl.Expr:
    """``expr`` of the previous row of the same series; null on each series' first row.

    Equivalent to ``expr.shift(1).over(by)`` on a frame sorted by ``by``, without grouping.
    """
    return pl.when(same_series(by)).then(expr.shift(1))


def gather_rows(df: pl.DataFrame, idx: np.ndarray) -> pl.DataFrame:
    """Rows ``idx`` (int64 row numbers) of ``df``; an index < 0 gives a row of nulls."""
    n = idx.shape[0]
    if n and idx[0] >= 0 and idx[-1] - idx[0] == n - 1 and bool(np.all(idx[1:] - idx[:-1] == 1)):
        # consecutive rows (snapshots stamped at every bar's end, as 5-minute open interest): a slice
        # shares the columns' memory instead of copying them
        return df.slice(int(idx[0]), n)
    at = pl.Series(idx.astype(np.uint32, copy=False), dtype=pl.UInt32)  # a frame gather: row numbers u32
    missing = idx < 0
    if not missing.any():
        return df[at] if df.height and df.width else df.select(pl.all().gather(at))
    n_missing = int(np.count_nonzero(missing))
    if n_missing * 4 < n and df.height and df.width and all(_flat(t) for t in df.dtypes):
        # a few rows missing (bars before a series' first snapshot): gather row 0 there, then blank those
        # rows in one pass; polars' gather by an index holding nulls cost twice as much (7.7 → 3.8 ms for
        # the 11 funding columns of a benchmark chunk's 420 k bars), but less than this form when most
        # rows are missing (1.6 against 4.1 ms for funding paid, 416 k of 420 k bars without one).
        # Flat columns only: a nested value blanked by `when` was not checked to be the same null.
        at = at.scatter(np.flatnonzero(missing), 0)
        return df[at].select(pl.when(pl.Series(~missing)).then(pl.all()).name.keep())
    at = at.set(pl.Series(missing), None)
    if df.height == 0 or df.width == 0:  # the frame's own gather indexes no row of an empty frame
        return df.select(pl.all().gather(at))
    return df[at]


def _flat(dtype: pl.DataType) -> bool:
    """A column type without inner values (numbers, booleans, strings, instants, categories)."""
    return not isinstance(dtype, (pl.List, pl.Array, pl.Struct, pl.Object))


def chunked_like(name: str, values: np.ndarray, like: pl.Series) -> pl.Series:
    """``values`` as a series cut into the chunks of ``like`` (a column of the frame it joins).

    A frame whose columns are chunked alike keeps them as they are; one single-chunk column added to a
    frame of several chunks (a concatenation of record frames) makes polars copy every column into one
    chunk at its next step, 14 ms for the 1.3 M long/short ratio rows of a panel chunk.
    """
    lengths = like.chunk_lengths()
    if len(lengths) == 1:
        return pl.Series(name, values)
    ends = np.cumsum(lengths)
    parts = [pl.Series(name, values[e - n : e]) for n, e in zip(lengths, ends, strict=True)]
    return pl.concat(parts, rechunk=False)


#: Offset between series in :func:`join_asof_series`'s combined key: instants stay below 2^42 ms
#: (year 2109), so ``id × 2^42 + ms`` orders rows by series, then time.
_KEY_SPAN = 2**42


def join_asof_series(
    left: pl.DataFrame,
    right: pl.DataFrame,
    *,
    left_on: str,
    right_on: str,
    by: Sequence[str],
    tolerance_ms: int | None = None,
) -> pl.DataFrame:
    """Backward as-of join per series: each left row gets the last right row of its series at or before it.

    Both frames must be sorted by ``by`` then their instant (``left_on``, ``right_on``: instants or
    int64 ms). The result is ``left.join_asof(right, ..., by=by, strategy="backward")``.

    Notes
    -----
    When the series key is one integer column (the panel's dense series ids), ``id × 2^42 + ms``
    increases along both frames, so a plain as-of join on that one integer (no grouping: about three
    times faster) finds the same row, and a match from an earlier series (rows before their series'
    first right row) is blanked. Otherwise polars' grouped as-of join runs.
    """
    keys = list(by)
    if not (len(keys) == 1 and left.schema[keys[0]].is_integer() and right.schema[keys[0]].is_integer()):
        return left.join_asof(
            right,
            left_on=left_on,
            right_on=right_on,
            by=keys or None,
            strategy="backward",
            tolerance=f"{tolerance_ms}ms" if tolerance_ms is not None else None,
            check_sortedness=False,
        )
    key = keys[0]

    def combined(df: pl.DataFrame, col: str) -> pl.Expr:
        t = ms(col) if isinstance(df.schema[col], pl.Datetime) else pl.col(col)
        return (pl.col(key).cast(pl.Int64) * _KEY_SPAN + t.cast(pl.Int64)).set_sorted().alias("_ck")

    cols = [c for c in right.columns if c != key and (c != right_on or right_on != left_on)]
    lk = left.select(combined(left, left_on), pl.col(key).cast(pl.Int64)).get_columns()
    rk = right.select(combined(right, right_on), pl.col(key).cast(pl.Int64)).get_columns()
    if not any(c in left.columns for c in cols) and all(s.null_count() == 0 for s in (*lk, *rk)):
        # one merge pass over the two key columns, then one gather of the right columns (a polars as-of
        # join plus a blanking pass per column cost four times as much on a panel chunk)
        idx = asof_index(
            lk[0].to_numpy(),
            rk[0].to_numpy(),
            lk[1].to_numpy(),
            rk[1].to_numpy(),
            -1 if tolerance_ms is None else tolerance_ms,
        )
        return left.with_columns(gather_rows(right.select(cols), idx).get_columns())
    r = right.select(combined(right, right_on), pl.col(key).alias("_ckey"), *cols)
    out = left.with_columns(combined(left, left_on)).join_asof(
        r, on="_ck", strategy="backward", tolerance=tolerance_ms, check_sortedness=False
    )
    same = pl.col("_ckey") == pl.col(key)
    return out.with_columns([pl.when(same).then(pl.col(c)).alias(c) for c in cols]).drop("_ck", "_ckey")
