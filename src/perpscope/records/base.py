"""Machinery shared by every record type: Arrow schema derived from a frozen dataclass, natural key,
conformance of whole frames to the schema.

A record type is declared once, as a frozen dataclass whose annotations *are* the contract:

- ``str`` → Arrow ``string``; ``int`` → ``int64``; ``float`` → ``float64``; ``bool`` → ``bool``;
- a field ending in ``_ms`` is an instant, stored as ``timestamp("ms", tz="UTC")``, except the
  durations listed in :data:`DURATION_FIELDS` (``interval_ms``), stored as ``int64`` milliseconds;
- ``X | None`` is nullable; anything else is required;
- a ``Literal[...]`` field only admits those values (checked on every frame written);
- a field with a default is filled with it when a frame lacks the column.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import polars as pl
import pyarrow as pa

#: Fields ending in ``_ms`` that are durations, not instants.
DURATION_FIELDS = frozenset({"interval_ms"})

TS_TYPE = pa.timestamp("ms", tz="UTC")
PL_TS = pl.Datetime("ms", "UTC")


class ConformError(ValueError):
    """A frame does not fit its record type. ``row`` is the 0-based frame row, when known."""

    def __init__(self, problem: str, row: int | None = None) -> None:
        self.problem = problem
        self.row = row
        super().__init__(problem if row is None else f"row {row}: {problem}")


@dataclass(frozen=True, slots=True)
class Field:
    """One column of a record type."""

    name: str
    arrow: pa.DataType
    polars: Any
    nullable: bool
    allowed: tuple[str, ...] | None  # values a Literal field admits
    default: Any = None  # filled in when a frame lacks the column


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """``X | None`` → (X, True); ``X`` → (X, False)."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"record fields may only be X or X | None, got {tp}")
        return args[0], True
    return tp, False


def _field(name: str, tp: Any, default: Any = None) -> Field:
    base, nullable = _unwrap(tp)
    allowed: tuple[str, ...] | None = None
    if get_origin(base) is Literal:
        allowed = tuple(str(a) for a in get_args(base))
        base = str
    if name.endswith("_ms") and name not in DURATION_FIELDS:
        if base is not int:
            raise TypeError(f"{name}: instants are int ms")
        return Field(name, TS_TYPE, PL_TS, nullable, None, default)
    mapping: dict[Any, tuple[pa.DataType, Any]] = {
        str: (pa.string(), pl.String),
        int: (pa.int64(), pl.Int64),
        float: (pa.float64(), pl.Float64),
        bool: (pa.bool_(), pl.Boolean),
    }
    if base not in mapping:
        raise TypeError(f"{name}: unsupported record field type {base}")
    arrow, polars = mapping[base]
    return Field(name, arrow, polars, nullable, allowed, default)


class RecordType:
    """A record type: its dataclass, Arrow schema, natural key and the time column it is filed by.

    Parameters
    ----------
    name : str
        Folder name in the store (``candles``, ``funding``, ...).
    cls : type
        The frozen dataclass declaring the fields (see module docstring for the type mapping).
    key : sequence of str
        Natural key: two rows with equal key are the same fact; the store keeps one. A record with a
        ``source`` field has it appended (each source's rows are kept apart).
    time_col : str
        Instant column that files a row into its month partition.
    doc : str
        One line saying what a row is, with units.
    """

    def __init__(self, name: str, cls: type, key: Sequence[str], time_col: str = "ts_ms", doc: str = ""):
        hints = typing.get_type_hints(cls, include_extras=False)
        self.name = name
        self.cls = cls
        self.fields: tuple[Field, ...] = tuple(
            _field(f.name, hints[f.name], None if f.default is dataclasses.MISSING else f.default)
            for f in dataclasses.fields(cls)
        )
        self.columns: tuple[str, ...] = tuple(f.name for f in self.fields)
        # the source is part of every sourced record's identity: two sources of one bar are both kept,
        # and readers combine them by precedence (records/sources.py), whatever the import order
        src = ("source",) if "source" in self.columns and "source" not in key else ()
        self.key: tuple[str, ...] = (*key, *src)
        self.time_col = time_col
        self.doc = doc
        missing = [k for k in (*self.key, time_col, "venue", "canonical") if k not in self.columns]
        if missing:
            raise TypeError(f"record {name}: key/time/partition columns {missing} are not fields")
        self.schema = pa.schema([pa.field(f.name, f.arrow, nullable=f.nullable) for f in self.fields])
        self.polars_schema: dict[str, Any] = {f.name: f.polars for f in self.fields}

    def __repr__(self) -> str:
        return f"RecordType({self.name!r})"

    # -- building frames ---------------------------------------------------------------------------
    def empty(self) -> pl.DataFrame:
        """An empty frame with this record's schema."""
        return pl.DataFrame(schema=self.polars_schema)

    def from_records(self, rows: Iterable[Any]) -> pl.DataFrame:
        """Frame from dataclass instances (the row-wise path used by live collectors)."""
        cols: dict[str, list[Any]] = {c: [] for c in self.columns}
        for r in rows:
            for c in self.columns:
                cols[c].append(getattr(r, c))
        return self.conform(pl.DataFrame(cols, schema_overrides=_int_for_ts(self)))

    def to_records(self, df: pl.DataFrame) -> list[Any]:
        """Frame → dataclass instances (instants back to int ms)."""
        out = df.select(
            [
                pl.col(f.name).dt.epoch("ms").alias(f.name) if f.polars == PL_TS else pl.col(f.name)
                for f in self.fields
            ]
        )
        return [self.cls(**row) for row in out.iter_rows(named=True)]

    # -- validation --------------------------------------------------------------------------------
    def conform(self, df: pl.DataFrame) -> pl.DataFrame:
        """Return ``df`` with exactly this record's columns, order and dtypes, or raise.

        Missing nullable columns are added as nulls; extra columns are an error (a typo in a
        mapping should not pass silently). Integer instants are read as ms since the epoch.

        Raises
        ------
        ConformError
            Naming the column, and the first bad row where there is one.
        """
        exprs = self.conform_exprs(df.schema)
        try:
            out = df.select(exprs)
            out = out.cast(self.polars_schema, strict=True)  # type: ignore[arg-type]
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
            raise ConformError(f"{self.name}: cannot convert to the record's types: {exc}") from exc
        # every check as one aggregate pass (polars evaluates a constant column's check once, where
        # get_column would materialize it row by row); the failing row is looked up only on failure
        checks = out.select(self.check_exprs()).row(0, named=True)
        for f in self.fields:
            if checks.get(f"null:{f.name}"):
                raise ConformError(f"{self.name}: column {f.name!r} is empty", _first(out[f.name].is_null()))
            if checks.get(f"finite:{f.name}"):
                bad = ~out[f.name].is_finite()
                raise ConformError(f"{self.name}: column {f.name!r} is not a finite number", _first(bad))
            if checks.get(f"allowed:{f.name}"):
                s, allowed = out.get_column(f.name), list(f.allowed or ())
                row = _first(~s.is_in(allowed) & s.is_not_null())
                raise ConformError(
                    f"{self.name}: column {f.name!r} must be one of {allowed}, found {s[row]!r}", row
                )
        return out

    def conform_exprs(self, schema: Mapping[str, Any]) -> list[pl.Expr]:
        """:meth:`conform`'s selection for a frame of ``schema`` (column → polars dtype): this record's
        columns in order, a missing nullable one as its default, instants as UTC ms datetimes (before the
        cast to :attr:`polars_schema`). Raises :class:`ConformError` on an extra or a missing required
        column."""
        extra = [c for c in schema if c not in self.columns]
        if extra:
            raise ConformError(f"{self.name}: unexpected columns {extra}; expected {list(self.columns)}")
        exprs = []
        for f in self.fields:
            if f.name not in schema:
                if f.default is None and not f.nullable:
                    raise ConformError(f"{self.name}: required column {f.name!r} is missing")
                exprs.append(pl.lit(f.default, dtype=f.polars).alias(f.name))
                continue
            col = pl.col(f.name)
            src = schema[f.name]
            if f.polars == PL_TS and src.is_integer():
                col = col.cast(pl.Int64).cast(PL_TS)
            elif f.polars == PL_TS and isinstance(src, pl.Datetime):
                col = col.dt.replace_time_zone("UTC") if src.time_zone is None else col
                col = col.dt.cast_time_unit("ms")
            exprs.append(col.alias(f.name))
        return exprs

    def check_exprs(self) -> list[pl.Expr]:
        """``conform``'s checks as aggregates, each true when some row fails it (nulls in a required
        column, a non-finite required number, a value outside a literal's allowed ones)."""
        exprs = [pl.lit(False).alias("_")]  # a select needs one expression even for a record without checks
        for f in self.fields:
            col = pl.col(f.name)
            if not f.nullable:
                exprs.append((col.null_count() > 0).alias(f"null:{f.name}"))
                if f.polars == pl.Float64:
                    exprs.append((~col.is_finite()).any().alias(f"finite:{f.name}"))
            if f.allowed is not None:
                # a comparison with each allowed value, not ``is_in``: two million trades' taker_side
                # took 20 ms to look up in a set and 5 ms to compare with buy and sell
                known = pl.any_horizontal(col == v for v in f.allowed)
                exprs.append((~known & col.is_not_null()).any().alias(f"allowed:{f.name}"))
        return exprs

    def to_arrow(self, df: pl.DataFrame) -> pa.Table:
        """Frame → Arrow table with exactly :attr:`schema` (nullability included)."""
        return df.to_arrow().cast(self.schema)


def _first(mask: pl.Series) -> int:
    idx = mask.arg_true()
    return int(idx[0]) if len(idx) else 0


def _int_for_ts(rt: RecordType) -> dict[str, Any]:
    return {f.name: pl.Int64 for f in rt.fields if f.polars == PL_TS}
