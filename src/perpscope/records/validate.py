"""Validation at the boundary: which rows of a record frame may enter the store, and why the others not.

One place per record type (:data:`RULES`): every way into the store (file import, live capture) runs
the same checks, so a row that one path refuses cannot come in through another. Checks:

- every number is finite (NaN and ±inf are never stored, nullable columns included);
- prices are positive and below 1e15 (premium-index candles excepted: their OHLC are signed
  fractions), and a bar's high ≥ max(open, close) ≥ min(open, close) ≥ low;
- volumes, quantities, notionals and counts are non-negative;
- instants lie in a sane window: from 2009-01-01 (no crypto market data is older) to one day after
  now (a venue's clock may run ahead; a predicted funding time lies hours ahead);
- ``venue`` and ``canonical`` can name a store folder (letters, digits, ``. _ + -``).

A bad row is a rejection with its row and reason, never an exception: the caller decides whether it
drops the row (live capture) or refuses the file (import, which keeps files whole).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pyarrow.compute as pc

from perpscope.core.time import DAY_MS
from perpscope.records.base import PL_TS, ConformError, RecordType

#: Earliest instant admitted in market data: 2009-01-01 UTC (bitcoin's genesis block is 2009-01-03).
EARLIEST_MS = 1_230_768_000_000
#: How far ahead of now an instant may lie.
FUTURE_SLACK_MS = DAY_MS
#: Records whose instants are versions of reference data, not market events: any time from 1970.
REFERENCE_RECORDS = frozenset({"instruments", "leverage_brackets"})
#: Text that may name a store folder (``venue=<v>``, ``symbol=<canonical>``).
SAFE_NAME = re.compile(r"^[A-Za-z0-9._+\-]+$")
#: Highest price admitted, quote currency: far above any asset in any quote (BTC is ~2.5e9 in VND);
#: above it a value is an overflow or a unit mix-up, not a price.
MAX_PRICE = 1e15
#: Rejections described row by row (the rest are counted).
DETAIL_ROWS = 5


#: A rule's screen: from the frame's columns (numbers as numpy arrays, nulls as NaN; text as its distinct
#: values), True when some row *may* fail the rule. Never False when a row fails it (a NaN or a null
#: counts as a failure): a screen that fires sends the frame to the exact path, which words the refusals.
Screen = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Rule:
    """One check: ``bad`` is true on rows that fail it; ``say`` words the failure from the row's values;
    ``screen`` (where the rule has one) is the same test on numpy arrays for the live collector's small
    frames (:class:`AdmitPlan`), where a polars query's fixed cost is most of the work."""

    name: str
    bad: pl.Expr
    say: Callable[[dict[str, Any]], str]
    screen: Screen | None = None


@dataclass(frozen=True)
class Rejection:
    """One refused row: ``row`` is its 0-based position in the frame checked, ``at`` its time."""

    row: int
    reason: str
    at: str = ""


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`check`: the rows admitted, and what was refused.

    Attributes
    ----------
    good : polars.DataFrame
        The admitted rows, in their original order.
    rejected : int
        How many rows were refused.
    bad_rows : polars.Series
        0-based positions of the refused rows (UInt32).
    detail : tuple of Rejection
        The first :data:`DETAIL_ROWS` refusals with their reasons.
    by_rule : dict
        Rule name → rows failing it (a row can fail several).
    """

    good: pl.DataFrame
    rejected: int = 0
    bad_rows: pl.Series = field(default_factory=lambda: pl.Series("row", [], dtype=pl.UInt32))
    detail: tuple[Rejection, ...] = ()
    by_rule: dict[str, int] = field(default_factory=dict)

    def summary(self, line_of: Callable[[int], int] | None = None) -> str:
        """``3 bad row(s): row 12: low -1.0 is negative; …`` (rows mapped through ``line_of``)."""
        where = line_of or (lambda r: r)
        parts = [f"row {where(r.row)}{f' ({r.at})' if r.at else ''}: {r.reason}" for r in self.detail]
        more = self.rejected - len(self.detail)
        tail = f"; and {more:,} more" if more > 0 else ""
        return f"{self.rejected:,} bad row(s): " + "; ".join(parts) + tail


def _fmt_ms(v: Any) -> str:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S UTC")
    return repr(v)


def _say(col: str, what: str) -> Callable[[dict[str, Any]], str]:
    """Words a failure as ``<col> <value> <what>``."""

    def say(r: dict[str, Any]) -> str:
        v = r[col]
        return f"{col} {_fmt_ms(v) if isinstance(v, datetime) else repr(v)} {what}"

    return say


# Screens are written as "not every row passes" (``not (x > 0).all()``): a NaN passes no comparison, so
# a NaN (or a null, read as NaN) always fires the screen, whatever the exact rule makes of it.
def _all_positive(col: str) -> Screen:
    return lambda a: not (a[col] > 0).all()


def _positive(col: str) -> Rule:
    return Rule(f"{col}_positive", ~(pl.col(col) > 0), _say(col, "is not positive"), _all_positive(col))


def _price(col: str, when: pl.Expr | None = None) -> list[Rule]:
    """A price: positive and below :data:`MAX_PRICE` (only where ``when`` holds, if given; such a rule
    has no screen)."""
    on = pl.lit(True) if when is None else when
    below_max: Screen | None = (lambda a: not (a[col] < MAX_PRICE).all()) if when is None else None
    return [
        Rule(
            f"{col}_positive",
            on & ~(pl.col(col) > 0),
            _say(col, "is not a positive price"),
            _all_positive(col) if when is None else None,
        ),
        Rule(
            f"{col}_absurd",
            on & (pl.col(col) >= MAX_PRICE),
            _say(col, f"is not a price (≥ {MAX_PRICE:g})"),
            below_max,
        ),
    ]


def _non_negative(col: str) -> Rule:
    return Rule(
        f"{col}_non_negative", pl.col(col) < 0, _say(col, "is negative"), lambda a: not (a[col] >= 0).all()
    )


def _at_most(col: str, limit: float) -> Rule:
    return Rule(
        f"{col}_at_most_{limit:g}",
        pl.col(col).abs() > limit,
        lambda r: f"{col} {r[col]!r} exceeds ±{limit:g}",
        lambda a: not (np.abs(a[col]) <= limit).all(),
    )


def _share(col: str) -> Rule:
    return Rule(
        f"{col}_share",
        ~pl.col(col).is_between(0.0, 1.0),
        _say(col, "is not within 0…1"),
        lambda a: not ((a[col] >= 0.0) & (a[col] <= 1.0)).all(),
    )


def _finite_screen(col: str) -> Screen:
    return lambda a: not np.isfinite(a[col]).all()


def _safe_names(col: str) -> Screen:
    """True unless every distinct value of the text column ``col`` can name a folder (a null cannot)."""
    return lambda a: not all(isinstance(v, str) and _is_safe_name(v) for v in a[col])


_SAFE_SEEN: set[str] = set()  # names already matched: a live stream repeats a handful of names


def _is_safe_name(v: str) -> bool:
    if v in _SAFE_SEEN:
        return True
    if SAFE_NAME.fullmatch(v) is None:  # not ``match``: its ``$`` passes a trailing newline
        return False
    if len(_SAFE_SEEN) < 100_000:
        _SAFE_SEEN.add(v)
    return True


def _candle_rules() -> list[Rule]:
    priced = pl.col("price_type") != "premium"
    rules = [r for c in ("open", "high", "low", "close") for r in _price(c, priced)]
    top = pl.max_horizontal("open", "close")
    bottom = pl.min_horizontal("open", "close")
    rules += [
        Rule(
            "high_below_open_close",
            pl.col("high") < top,
            lambda r: f"high {r['high']!r} is below max(open {r['open']!r}, close {r['close']!r})",
        ),
        Rule(
            "low_above_open_close",
            pl.col("low") > bottom,
            lambda r: f"low {r['low']!r} is above min(open {r['open']!r}, close {r['close']!r})",
        ),
        Rule(
            "high_below_low",
            pl.col("high") < pl.col("low"),
            lambda r: f"high {r['high']!r} is below low {r['low']!r}",
        ),
        _positive("interval_ms"),
    ]
    rules += [
        _non_negative(c)
        for c in ("volume_base", "volume_quote", "trades", "taker_buy_base", "taker_buy_quote")
    ]
    return rules


#: Record name → its own checks (on top of the checks every record gets: finite numbers, instants in
#: the window, folder-safe venue and symbol).
RULES: dict[str, list[Rule]] = {
    "candles": _candle_rules(),
    "trades": [*_price("price"), _non_negative("qty_base")],
    "taker_volume": [
        _positive("interval_ms"),
        *(_non_negative(c) for c in ("buy_base", "sell_base", "buy_usd", "sell_usd")),
    ],
    "book_depth": [_non_negative("depth_base"), _non_negative("notional_usd")],
    # a funding rate is a fraction per interval: venues cap it at a few percent; 100% is corrupt data
    "funding": [_at_most("rate", 1.0), _positive("interval_ms"), *_price("mark_price")],
    "open_interest": [_non_negative("interval_ms"), _non_negative("oi_base"), _non_negative("oi_usd")],
    "liquidations": [*_price("price"), _non_negative("qty_base"), _non_negative("notional_usd")],
    "liquidation_totals": [
        _non_negative("interval_ms"),
        _non_negative("long_usd"),
        _non_negative("short_usd"),
    ],
    "long_short_ratios": [
        _non_negative("interval_ms"),
        _non_negative("ratio"),
        _share("long_share"),
        _share("short_share"),
    ],
    "instruments": [
        _positive("contract_size"),
        _non_negative("tick_size"),
        _non_negative("lot_size"),
        _non_negative("min_notional_usd"),
    ],
    "leverage_brackets": [
        _non_negative("notional_floor_usd"),
        Rule(
            "cap_below_floor",
            pl.col("notional_cap_usd") < pl.col("notional_floor_usd"),
            lambda r: (
                f"notional_cap_usd {r['notional_cap_usd']!r} is below notional_floor_usd "
                f"{r['notional_floor_usd']!r}"
            ),
        ),
        _positive("max_leverage"),
        _share("mmr"),
    ],
    # a day's net flow of all US spot ETFs has stayed within ±$2B (Farside, 2024–2026); ±$1T is a unit
    # mix-up or an overflow, not a flow
    "fund_flows": [_at_most("flow_usd", 1e12)],
    "stablecoin_supply": [_non_negative("supply_usd")],
    "futures_positioning": [
        _non_negative(c)
        for c in (
            "oi_base",
            *(f"{who}_{side}_base" for who in ("am", "dealer", "lev", "other") for side in ("long", "short")),
        )
    ],
}


def time_window(record: RecordType, now_ms: int) -> tuple[int, int]:
    """Admitted instants of ``record``, ms: [2009-01-01, now + 1 day] (reference data: from 1970)."""
    lo = 0 if record.name in REFERENCE_RECORDS else EARLIEST_MS
    return lo, now_ms + FUTURE_SLACK_MS


def rules_for(record: RecordType, now_ms: int) -> list[Rule]:
    """Every check of ``record``: the common ones, then its own."""
    lo, hi = time_window(record, now_ms)
    lo_t = datetime.fromtimestamp(lo / 1000, UTC)
    hi_t = datetime.fromtimestamp(hi / 1000, UTC)
    window = f"{lo_t:%Y-%m-%d} … {hi_t:%Y-%m-%d %H:%M:%S} UTC (now + 1 day)"
    common: list[Rule] = []
    for f in record.fields:
        if f.polars == pl.Float64:
            common.append(
                Rule(
                    f"{f.name}_finite",
                    ~pl.col(f.name).is_finite(),
                    _say(f.name, "is not finite"),
                    _finite_screen(f.name),
                )
            )
        elif f.polars == PL_TS:
            ms = pl.col(f.name).dt.epoch("ms")
            common.append(
                Rule(f"{f.name}_window", ~ms.is_between(lo, hi), _say(f.name, f"is outside {window}"))
            )
    for c in ("venue", "canonical"):
        if c in record.columns:
            common.append(
                Rule(
                    f"{c}_name",
                    ~pl.col(c).str.contains(SAFE_NAME.pattern),
                    _say(c, "cannot name a store folder (letters, digits, . _ + - only)"),
                    _safe_names(c),
                )
            )
    own = [r for r in RULES.get(record.name, []) if _uses_known(r, record.columns)]
    return [*common, *own]


def _uses_known(rule: Rule, columns: Iterable[str]) -> bool:
    return set(rule.bad.meta.root_names()) <= set(columns)


def check(record: RecordType, df: pl.DataFrame, *, now_ms: int, detail: int = DETAIL_ROWS) -> Verdict:
    """Split a conformed ``record`` frame into admitted rows and refusals with reasons.

    Parameters
    ----------
    record : RecordType
        What the rows are.
    df : polars.DataFrame
        Rows already conformed to ``record`` (:meth:`RecordType.conform`).
    now_ms : int
        The present, ms UTC (instants more than a day after it are refused).
    detail : int
        How many refusals to word row by row.
    """
    if df.is_empty():
        return Verdict(df)
    rules = rules_for(record, now_ms)
    # each rule as one aggregate first: a clean frame (nearly every file) builds no boolean column per
    # rule (a month of 1-minute bars, 30 rules: 2.0 → 1.2 ms; a day of 500 k trades: 2.6 → 1.75 ms)
    if not any(df.select([r.bad.fill_null(False).any().alias(r.name) for r in rules]).row(0)):
        return Verdict(df)
    flags = df.select([r.bad.fill_null(False).alias(r.name) for r in rules])
    any_bad = flags.select(pl.any_horizontal(pl.all()).alias("bad")).to_series()
    n = int(any_bad.sum())
    if n == 0:
        return Verdict(df)
    bad_rows = any_bad.arg_true().cast(pl.UInt32).alias("row")
    by_rule = {name: int(v) for name, v in flags.sum().row(0, named=True).items() if v}
    out = []
    for i in bad_rows.head(detail):
        row = df.row(int(i), named=True)
        failed = [r for r in rules if flags.item(int(i), r.name)]
        out.append(Rejection(int(i), "; ".join(r.say(row) for r in failed), _fmt_ms(row[record.time_col])))
    return Verdict(df.filter(~any_bad), n, bad_rows, tuple(out), by_rule)


# -- rows that do not even conform -----------------------------------------------------------------
#: Conform errors tolerated one at a time before falling back to conforming row by row.
_RETRIES = 16


def admit_frame(
    record: RecordType, raw: pl.DataFrame, *, now_ms: int
) -> tuple[pl.DataFrame, list[Rejection]]:
    """Conform and check an unconformed frame, dropping (not raising on) rows that fail either.

    For live capture: a NaN price, a value of the wrong type or an out-of-range instant costs its own
    row, never the rest of the batch. Returns the admitted rows (conformed) and every refusal (rows
    0-based in ``raw``; reasons for all of them — refusals are rare and each is counted).
    """
    rejected: list[Rejection] = []
    keep = np.ones(raw.height, dtype=bool)
    idx = np.arange(raw.height)
    conformed: pl.DataFrame | None = None
    for _ in range(_RETRIES):
        part = raw.filter(keep)
        try:
            conformed = record.conform(part)
            break
        except ConformError as exc:
            if exc.row is None:  # a whole-frame problem (missing or extra column): nothing can be kept
                return record.empty(), [Rejection(i, exc.problem) for i in range(raw.height)]
            orig = int(idx[keep][exc.row])
            rejected.append(Rejection(orig, exc.problem))
            keep[orig] = False
    if conformed is None:  # many bad rows: conform each remaining row on its own
        parts = []
        for i in idx[keep]:
            try:
                parts.append(record.conform(raw.slice(int(i), 1)))
            except ConformError as exc:
                rejected.append(Rejection(int(i), exc.problem))
                keep[int(i)] = False
        conformed = pl.concat(parts, how="vertical") if parts else record.empty()
    verdict = check(record, conformed, now_ms=now_ms, detail=conformed.height)
    kept_idx = idx[keep]
    rejected.extend(Rejection(int(kept_idx[r.row]), r.reason, r.at) for r in verdict.detail)
    return verdict.good, sorted(rejected, key=lambda r: r.row)


def frame_from_rows(
    record: RecordType, rows: list[Any], *, now_ms: int
) -> tuple[pl.DataFrame, list[tuple[Any, str]]]:
    """Dataclass rows → an admitted, conformed frame, and each refused row with its reason.

    Building the frame fails as a whole on a value polars cannot hold (an instant beyond int64, text
    in a number column); only then are the rows built one at a time, to find and drop the bad ones.
    """
    # instants as int ms, every other column as the record's own type: a value that does not fit it
    # (a trade id beyond int64) fails here, row by row, instead of later when the batch is conformed
    ts_int = {f.name: pl.Int64 if f.polars == PL_TS else f.polars for f in record.fields}
    try:
        raw = pl.DataFrame(
            {c: [getattr(r, c) for r in rows] for c in record.columns}, schema_overrides=ts_int
        )
    except Exception:  # any construction failure: isolate the rows that cause it
        return _frame_row_by_row(record, rows, ts_int, now_ms)
    good, refused = admit_planned(record, raw, now_ms=now_ms)
    return good, [(rows[r.row], r.reason) for r in refused]


def _frame_row_by_row(
    record: RecordType, rows: list[Any], ts_int: dict[str, Any], now_ms: int
) -> tuple[pl.DataFrame, list[tuple[Any, str]]]:
    singles: list[pl.DataFrame] = []
    kept: list[Any] = []
    refused: list[tuple[Any, str]] = []
    for r in rows:
        try:
            singles.append(
                pl.DataFrame({c: [getattr(r, c)] for c in record.columns}, schema_overrides=ts_int)
            )
            kept.append(r)
        except Exception as exc:  # the value polars refused, in the reason
            refused.append((r, f"cannot be stored: {str(exc).splitlines()[0]}"))
    if not singles:
        return record.empty(), refused
    raw = pl.concat(singles, how="diagonal_relaxed")
    good, more = admit_frame(record, raw, now_ms=now_ms)
    return good, [*refused, *((kept[m.row], m.reason) for m in more)]


# -- the live collector's hot path: one admission plan per frame shape --------------------------------
@dataclass(frozen=True)
class AdmitPlan:
    """:func:`admit_frame` for frames of one shape, its polars expressions built once.

    Building ``conform``'s and ``check``'s expressions costs ~2.5 ms of Python per call whatever the
    rows (measured on 400-trade flushes of the live collector: most of a flush's CPU). A plan holds them,
    built for one record and one input schema (columns of the record's types, instants as integer ms or
    as the record's datetimes): :meth:`admit` conforms the frame column by column (reorder, integer ms
    to datetimes, absent columns as their defaults — all ``conform`` does to such frames), evaluates
    every check of :meth:`RecordType.conform` and of :func:`rules_for` but the instants' window as one
    aggregate (~0.7 ms for a 400-trade frame: polars' fixed cost per expression), and checks the window
    on the integer instants (``min``/``max``; it moves with ``now_ms``). When a row fails anything the
    frame goes through :func:`admit_frame` itself, so refusals, their reasons and the rows kept are
    exactly :func:`admit_frame`'s.

    When every check has a numpy :attr:`Rule.screen` (trades and liquidations do), the aggregates are
    not a polars query at all: the screens run on the columns as numpy arrays (text columns as their
    distinct values) and the required columns' null counts are read from the series — 0.32 ms of
    polars' fixed cost per frame down to some 30 µs. A screen fires on every row its rule refuses (and
    on NaN or null, which the exact path then judges), so a frame screened clean is one
    :func:`admit_frame` admits whole.
    """

    record: RecordType
    schema: tuple[tuple[str, Any], ...]
    #: how each of the record's columns comes out of the input: kept, integer ms read as the record's
    #: instants, or (absent) its default — what ``conform`` does to such frames, without a query
    columns: tuple[tuple[str, str, Any], ...]
    #: one aggregate per check, each true when some row fails it
    any_bad: tuple[pl.Expr, ...]
    #: instant columns of the input (integer ms or UTC ms datetimes), checked against :func:`time_window`
    instants: tuple[str, ...]
    #: every check but the window as numpy screens (None: some check has none; ``any_bad`` is used)
    screens: tuple[Screen, ...] | None = None
    #: columns the screens read as numbers, and as distinct text values
    numeric: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    #: columns that must hold no null, and text columns restricted to a literal's values
    required: tuple[str, ...] = ()
    allowed: tuple[tuple[str, pl.Enum], ...] = ()

    @classmethod
    def build(cls, record: RecordType, schema: tuple[tuple[str, Any], ...]) -> AdmitPlan | None:
        """A plan for frames of ``schema`` (``(column, dtype)`` pairs), or None when such frames need the
        general path (a column of another type than the record's, instants neither integer ms nor the
        record's datetimes)."""
        types = dict(schema)
        instants = []
        for f in record.fields:
            src = types.get(f.name)
            if src is None:
                continue
            if f.polars == PL_TS:
                if src != pl.Int64 and src != PL_TS:  # integer ms, or conformed already
                    return None
                instants.append(f.name)
            elif src != f.polars:
                return None
        try:
            record.conform_exprs(types)  # refuses what conform refuses (extra or missing columns)
        except ConformError:
            return None
        columns = tuple(
            (f.name, "default", f.default)
            if f.name not in types
            else (f.name, "ms" if f.polars == PL_TS and types[f.name] == pl.Int64 else "keep", None)
            for f in record.fields
        )
        window = {f"{c}_window" for c in instants}
        rules = [r for r in rules_for(record, 0) if r.name not in window]
        aggregates = [
            *record.check_exprs(),
            *(r.bad.fill_null(False).any() for r in rules),
        ]
        # the aggregates as separate outputs of one select, any of them read in Python: folding them into
        # ``any_horizontal`` in the query cost 0.57 ms instead of 0.32 ms per 200-trade frame
        named = [a.alias(f"bad{i}") for i, a in enumerate(aggregates)]
        plan = cls(record, schema, columns, tuple(named), tuple(instants))
        read = {c for r in rules for c in r.bad.meta.root_names()}
        kinds = record.polars_schema
        if all(r.screen is not None for r in rules) and all(
            kinds[c] == pl.String or kinds[c].is_numeric() for c in read
        ):
            plan = dataclasses.replace(
                plan,
                screens=tuple(r.screen for r in rules if r.screen is not None),
                numeric=tuple(c for c in record.columns if c in read and kinds[c] != pl.String),
                text=tuple(c for c in record.columns if c in read and kinds[c] == pl.String),
                required=tuple(f.name for f in record.fields if not f.nullable),
                allowed=tuple((f.name, pl.Enum(f.allowed)) for f in record.fields if f.allowed),
            )
        return plan

    def admit(self, raw: pl.DataFrame, *, now_ms: int) -> tuple[pl.DataFrame, list[Rejection]]:
        """:func:`admit_frame` of ``raw`` (a frame of this plan's schema)."""
        if raw.is_empty():
            return admit_frame(self.record, raw, now_ms=now_ms)
        lo, hi = time_window(self.record, now_ms)
        for c in self.instants:
            s = raw.get_column(c)
            if s.dtype != pl.Int64:  # ms since the epoch either way (a cast: ``to_physical`` is a query)
                s = s.cast(pl.Int64)
            first, last = s.min(), s.max()
            if (first is not None and first < lo) or (last is not None and last > hi):  # type: ignore[operator]
                return admit_frame(self.record, raw, now_ms=now_ms)
        n, dtypes = raw.height, self.record.polars_schema
        out = pl.DataFrame(
            [
                pl.Series(name, [default], dtype=dtypes[name]).new_from_index(0, n)
                if how == "default"
                else raw.get_column(name).cast(PL_TS)
                if how == "ms"
                else raw.get_column(name)
                for name, how, default in self.columns
            ]
        )
        if self.screens is not None:
            bad = self._screened_bad(out)
        else:
            try:
                bad = any(out.select(self.any_bad).row(0))
            except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
                bad = True
        if bad:
            return admit_frame(self.record, raw, now_ms=now_ms)
        return out, []

    def _screened_bad(self, out: pl.DataFrame) -> bool:
        """True when some row of the conformed ``out`` may fail a check (see :attr:`screens`)."""
        if any(out.get_column(c).null_count() for c in self.required):
            return True
        for c, literal in self.allowed:
            try:  # a value outside the literal's fails the cast (a null stays null, as the check lets it)
                out.get_column(c).cast(literal, strict=True)
            except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
                return True
        cols: dict[str, Any] = {c: _distinct(out.get_column(c)) for c in self.text}
        for c in self.numeric:
            # nulls (none in a required column by now) as NaN, which every screen takes for a failure
            cols[c] = out.get_column(c).cast(pl.Float64).to_numpy()
        return any(screen(cols) for screen in self.screens or ())


def _distinct(s: pl.Series) -> list[Any]:
    """The distinct values of ``s``: a live column is mostly one value (no null, least = greatest: two
    reductions, where ``n_unique`` hashes every row — 1.6 ms on 55 k trades); else Arrow's ``unique``
    (12 µs on 550 rows, where polars' ``unique`` is a query: 34 µs)."""
    if s.len() and not s.null_count() and s.min() == s.max():
        return [s[0]]
    return pc.unique(s.to_arrow()).to_pylist()


_PLANS: dict[tuple[str, tuple[tuple[str, Any], ...]], AdmitPlan | None] = {}


def admit_planned(
    record: RecordType, raw: pl.DataFrame, *, now_ms: int
) -> tuple[pl.DataFrame, list[Rejection]]:
    """:func:`admit_frame`, through a cached :class:`AdmitPlan` for ``raw``'s shape when it has one."""
    shape = tuple(raw.schema.items())
    key = (record.name, shape)
    if key not in _PLANS:
        _PLANS[key] = AdmitPlan.build(record, shape)
    plan = _PLANS[key]
    if plan is None:
        return admit_frame(record, raw, now_ms=now_ms)
    return plan.admit(raw, now_ms=now_ms)
