"""The checked form of a column-mapping spec (what :mod:`perpscope.venues.csv.spec` builds from TOML).

Frozen dataclasses only; :mod:`perpscope.venues.csv.mapping` applies them to a CSV file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from perpscope.records import RecordType
from perpscope.venues.csv.expr import Expression

#: Marks "no constant" / "no default" (None is a legitimate constant).
MISSING: Any = object()


@dataclass(frozen=True)
class Source:
    """Where one value comes from: exactly one of a column, a constant, an expression or a template.

    ``map`` replaces whole text values (``{SELL = "long"}``) before anything else; values not in it
    become ``default`` when one is given, else pass through. ``case`` then lower/upper-cases text;
    ``scale`` multiplies a number (``0.01`` turns percent into a fraction).
    """

    column: str | None = None
    value: Any = MISSING
    expr: Expression | None = None
    template: tuple[tuple[str, str | None], ...] | None = None  # (literal, column-or-None) pieces
    scale: float | None = None
    mapping: dict[str, Any] | None = None
    default: Any = MISSING
    case: Literal["lower", "upper"] | None = None

    @property
    def is_constant(self) -> bool:
        return self.value is not MISSING

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    def columns(self) -> set[str]:
        """Source columns this value reads."""
        if self.column is not None:
            return {self.column}
        if self.expr is not None:
            return set(self.expr.columns)
        if self.template is not None:
            return {c for _, c in self.template if c is not None}
        return set()


@dataclass(frozen=True)
class TimeSpec:
    """The time column: ``unit`` ms/s/us/ns (epoch numbers), ``iso`` text, or ``format`` (strftime)."""

    column: str
    unit: str
    format: str | None = None
    round_ms: int | None = None


@dataclass(frozen=True)
class Span:
    """A length in ms: fixed, inferred from the row spacing, or read per row from a source.

    ``kind``: ``fixed`` (``ms``), ``infer`` (the most common spacing between consecutive rows of a
    series, one value for the block), ``spacing`` (per row: time since the previous row of the
    series, rounded to ``round_ms``; the first row, and any gap over ``max_ms``, take the next gap),
    ``source`` (a column/expression giving ms, or text durations such as ``8h`` via ``map``).
    """

    kind: Literal["fixed", "infer", "spacing", "source"]
    ms: int | None = None
    source: Source | None = None
    max_ms: int | None = None
    round_ms: int | None = None


@dataclass(frozen=True)
class Shift:
    """Added to the parsed time to give ``ts_ms``: ``bars`` × the row's bar length + ``ms``; or, with
    ``weekday`` (0 = Monday), the next such weekday on or after the row's date, at ``ms`` after 00:00 UTC
    (a weekly report published on the Friday of the week it describes)."""

    bars: int = 0
    ms: int = 0
    weekday: int | None = None


@dataclass(frozen=True)
class RecordSpec:
    """One ``[[record]]`` block: how rows of the file become one record frame."""

    label: str
    record: RecordType
    venue: Source
    symbol: Source
    base: Source | None
    quote: Source | None
    market: Source
    scheme: str | None
    quotes: tuple[str, ...] | None
    default_quote: str | None
    time: TimeSpec
    bar: Span | None
    interval: Span | None
    shift: Shift
    where: dict[str, tuple[str, ...]]
    skip_missing: tuple[str, ...]
    skip_repeated: tuple[str, ...]
    #: an exchange calendar (``XNYS``): rows whose date is not one of its sessions are skipped
    sessions: str | None
    fields: dict[str, Source]
    notes: tuple[str, ...]

    def columns(self) -> set[str]:
        """Every source column the block reads (to check them against the file's header)."""
        cols = {self.time.column, *self.where, *self.skip_missing, *self.skip_repeated}
        for s in (self.venue, self.symbol, self.base, self.quote, self.market, *self.fields.values()):
            if s is not None:
                cols |= s.columns()
        for span in (self.bar, self.interval):
            if span is not None and span.source is not None:
                cols |= span.source.columns()
        return cols


@dataclass(frozen=True)
class FormatSpec:
    """A whole mapping file."""

    origin: str
    name: str
    description: str
    header: tuple[str, ...] | None
    files: tuple[str, ...]
    null_values: tuple[str, ...]
    delimiter: str
    notes: tuple[str, ...]
    importable: bool
    reason: str | None
    hint: str | None
    records: tuple[RecordSpec, ...]
