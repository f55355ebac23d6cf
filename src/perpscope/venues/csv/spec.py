"""The column-mapping spec: a TOML file saying how a CSV export becomes perpscope records.

This module reads and checks the spec (``tomllib``); :mod:`perpscope.venues.csv.mapping` applies it.
Every problem in a spec is an :class:`~perpscope.core.errors.InputError` naming the mapping file and
the key (``record 2 (funding) → fields.rate``). The full schema, with a worked example, is in
``docs/import-formats.md``; in short::

    [format]                      name, description, header = [...], files = ["*glob*"], null_values,
                                  delimiter, notes = [...], time = {...} (default for every record),
                                  importable = false + reason (recognized but not importable)
    [[record]]                    one block per record frame the file yields
    type = "funding"              a record name (candles, funding, open_interest, ...)
    venue / symbol / base / quote / market
                                  identity: a constant string, or a source table {column = "coin"}
    scheme = "binance"            split `symbol` into base/quote/expiry the Binance way (quotes,
                                  default_quote = "USDT" to restore a stripped quote)
    time = {column, unit, format, round}
    bar = "4h" | "infer" | {source}               length of the row's bar
    interval = "8h" | "infer" | {infer = "spacing", max, round} | {source}   → interval_ms
    shift = "0" | "bar" | "-bar" | "5m"           added to the time to give ts_ms
    shift = {weekday = "fri", at = "21h"}         the next Friday on or after the date, 21:00 UTC
    where = {margin = "all"}      keep only these rows; skip_missing / skip_repeated = [columns]
    sessions = "XNYS"             keep only rows dated on that exchange calendar's trading sessions
    [record.fields]               field = "column" | {column|expr|template|value, scale, map, default, case}
    [record.constants]            field = constant
"""

from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import Any

import polars as pl

from perpscope.core.errors import InputError
from perpscope.core.time import interval_ms
from perpscope.records import RECORDS, RecordType
from perpscope.venues.csv.expr import ExprError, parse_expression
from perpscope.venues.csv.model import MISSING, FormatSpec, RecordSpec, Shift, Source, Span, TimeSpec

#: Fields a record block fills from its identity keys, time and interval; never set in ``fields``.
IDENTITY_FIELDS = frozenset({"venue", "symbol", "canonical", "market", "ts_ms", "interval_ms"})
TIME_UNITS = ("ms", "s", "us", "ns", "iso", "format")
SCHEMES = ("binance",)

_FORMAT_KEYS = {
    "name",
    "description",
    "header",
    "files",
    "null_values",
    "delimiter",
    "notes",
    "time",
    "importable",
    "reason",
    "hint",
}
_RECORD_KEYS = {
    "type",
    "venue",
    "symbol",
    "base",
    "quote",
    "market",
    "scheme",
    "quotes",
    "default_quote",
    "time",
    "bar",
    "interval",
    "shift",
    "where",
    "skip_missing",
    "skip_repeated",
    "sessions",
    "fields",
    "constants",
    "notes",
}
_SOURCE_KEYS = {"column", "value", "expr", "template", "scale", "map", "default", "case"}
_TIME_KEYS = {"column", "unit", "format", "round"}
DEFAULT_NULLS = ("", "None", "none", "null", "NULL", "NaN", "nan", "N/A")


# -- loading ---------------------------------------------------------------------------------------


def load_spec(path: str | Path) -> FormatSpec:
    """Read and check a mapping TOML file.

    Raises
    ------
    InputError
        Naming the mapping file and the key, when the TOML is malformed or the spec is invalid.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(str(p), f"cannot read the mapping file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(p), f"not valid TOML: {exc}") from exc
    return spec_from_dict(data, str(p))


def spec_from_dict(data: dict[str, Any], origin: str) -> FormatSpec:
    """Check a parsed mapping (the TOML as a dict); ``origin`` names it in errors."""
    err = _Errors(origin)
    fmt = data.get("format")
    if not isinstance(fmt, dict):
        raise err("missing the [format] table (name, description, header, ...)")
    err.unknown(data, {"format", "record"}, "top level")
    err.unknown(fmt, _FORMAT_KEYS, "[format]")
    name = err.text(fmt, "name", "[format]")
    description = err.text(fmt, "description", "[format]")
    header = err.text_list(fmt, "header", "[format]") if "header" in fmt else None
    importable = fmt.get("importable", True)
    if not isinstance(importable, bool):
        raise err("[format].importable must be true or false")
    reason = fmt.get("reason")
    if not importable and not isinstance(reason, str):
        raise err("[format]: a format with importable = false needs a `reason` saying why")
    default_time = fmt.get("time")
    blocks = data.get("record", [])
    if not isinstance(blocks, list):
        raise err("`record` must be an array of tables: write [[record]]")
    if importable and not blocks:
        raise err("no [[record]] blocks: say which record(s) the file yields")
    records = tuple(_record(err, b, i + 1, default_time) for i, b in enumerate(blocks))
    return FormatSpec(
        origin=origin,
        name=name,
        description=description,
        header=tuple(header) if header is not None else None,
        files=tuple(err.text_list(fmt, "files", "[format]")) if "files" in fmt else (),
        null_values=tuple(err.text_list(fmt, "null_values", "[format]"))
        if "null_values" in fmt
        else DEFAULT_NULLS,
        delimiter=str(fmt.get("delimiter", ",")),
        notes=tuple(err.text_list(fmt, "notes", "[format]")) if "notes" in fmt else (),
        importable=importable,
        reason=reason if isinstance(reason, str) else None,
        hint=fmt.get("hint") if isinstance(fmt.get("hint"), str) else None,
        records=records,
    )


class _Errors:
    """Builds InputErrors that name the mapping file."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def __call__(self, problem: str) -> InputError:
        return InputError(self.origin, problem, hint="fix the mapping file (schema: docs/import-formats.md)")

    def unknown(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            raise self(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")

    def text(self, table: dict[str, Any], key: str, where: str) -> str:
        v = table.get(key)
        if not isinstance(v, str) or not v.strip():
            raise self(f"{where}: `{key}` must be a non-empty string, found {v!r}")
        return v

    def text_list(self, table: dict[str, Any], key: str, where: str) -> list[str]:
        v = table.get(key)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self(f"{where}: `{key}` must be a list of strings, found {v!r}")
        return v


def _record(err: _Errors, b: Any, n: int, default_time: Any) -> RecordSpec:
    """One ``[[record]]`` block (the ``n``-th) → a :class:`RecordSpec`; its parts are checked in the order
    a reader meets them (identity, time, filters, fields), so the first mistake is the one named."""
    if not isinstance(b, dict):
        raise err(f"record {n}: must be a table")
    rname = b.get("type")
    label = f"record {n} ({rname})"
    # a list or table is unhashable: it must be refused by name, not by a TypeError from the lookup
    if not isinstance(rname, str) or rname not in RECORDS:
        raise err(f"record {n}: `type` must be one of {sorted(RECORDS)}, found {rname!r}")
    rt = RECORDS[rname]
    err.unknown(b, _RECORD_KEYS, label)
    identity = _identity(err, b, label)
    timing = _timing(err, b, label, rt, default_time)
    where = _where(err, b, label)
    sessions = _sessions(err, b, label)
    fields = _fields(err, b, label, rt)

    def texts(key: str) -> tuple[str, ...]:
        return tuple(err.text_list(b, key, label)) if key in b else ()

    return RecordSpec(
        label=label,
        record=rt,
        **identity,
        **timing,
        where=where,
        skip_missing=texts("skip_missing"),
        skip_repeated=texts("skip_repeated"),
        sessions=sessions,
        fields=fields,
        notes=texts("notes"),
    )


def _identity(err: _Errors, b: dict[str, Any], label: str) -> dict[str, Any]:
    """Who the rows belong to: ``venue``, ``symbol``, ``base``, ``quote``, ``market`` (constants or
    columns), or a symbol ``scheme`` with its ``quotes`` and ``default_quote``."""

    def ident(key: str, required: bool = True, default: Any = MISSING) -> Source | None:
        if key not in b:
            if default is not MISSING:
                return Source(value=default)
            if required:
                raise err(f'{label}: `{key}` is required (a constant, or {{column = "..."}})')
            return None
        return _source(err, b[key], f"{label} → {key}", constant_strings=True)

    venue = ident("venue")
    symbol = ident("symbol")
    scheme = b.get("scheme")
    if scheme is not None and scheme not in SCHEMES:
        raise err(f"{label}: `scheme` must be one of {list(SCHEMES)}, found {scheme!r}")
    base = ident("base", required=scheme is None)
    quote = ident("quote", required=scheme is None)
    market = ident("market", default="perp")
    assert market is not None
    if market.is_constant and market.value not in ("perp", "spot", "future"):
        raise err(f"{label}: `market` must be perp, spot or future, found {market.value!r}")
    quotes = tuple(err.text_list(b, "quotes", label)) if "quotes" in b else None
    dq = b.get("default_quote")
    if dq is not None and not isinstance(dq, str):
        raise err(f"{label}: `default_quote` must be a string")
    if (quotes or dq) and scheme is None:
        raise err(f"{label}: `quotes` and `default_quote` only apply with a `scheme`")
    return {
        "venue": venue,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "market": market,
        "scheme": scheme,
        "quotes": quotes,
        "default_quote": dq,
    }


def _timing(err: _Errors, b: dict[str, Any], label: str, rt: RecordType, default_time: Any) -> dict[str, Any]:
    """When the rows are: ``time`` (or the file's default), the ``bar`` a row covers, the records'
    ``interval`` (required where the record has ``interval_ms``, refused where it has not) and ``shift``."""
    rname = rt.name
    time = _time(err, b.get("time", default_time), label)
    bar = _span(err, b["bar"], f"{label} → bar") if "bar" in b else None
    interval = _span(err, b["interval"], f"{label} → interval") if "interval" in b else None
    if "interval_ms" in rt.columns and interval is None and bar is None:
        raise err(f'{label}: {rname} records carry interval_ms: give `interval` (or `bar`), e.g. "4h"')
    if "interval_ms" not in rt.columns and interval is not None:
        raise err(f"{label}: {rname} records have no interval_ms; remove `interval`")
    shift = _shift(err, b.get("shift", "0"), label)
    if shift.bars and bar is None and interval is None:
        raise err(f"{label}: shift by bars needs `bar` (the length of a row's bar)")
    return {"time": time, "bar": bar, "interval": interval, "shift": shift}


def _where(err: _Errors, b: dict[str, Any], label: str) -> dict[str, tuple[str, ...]]:
    """``where``: the rows kept, column → accepted values (as text)."""
    where: dict[str, tuple[str, ...]] = {}
    w = b.get("where", {})
    if not isinstance(w, dict):
        raise err(f'{label}: `where` must be a table such as {{margin = "all"}}')
    for k, v in w.items():
        vals = v if isinstance(v, list) else [v]
        if not all(isinstance(x, str | int | float) and not isinstance(x, bool) for x in vals):
            raise err(f"{label} → where.{k}: values must be strings or numbers, found {v!r}")
        where[k] = tuple(str(x) for x in vals)
    return where


#: exchange_calendars names known without importing it (a test checks each is one of its calendars).
COMMON_CALENDARS = frozenset({"XNYS", "XNAS", "CMES"})


def _sessions(err: _Errors, b: dict[str, Any], label: str) -> str | None:
    """``sessions``: the exchange calendar whose sessions the rows' dates must be, checked by name now."""
    sessions = b.get("sessions")
    if sessions is not None and sessions not in COMMON_CALENDARS:
        # imported only for a name outside the common ones: exchange_calendars (and pandas) take ~0.8 s
        # to import, which every command reading the built-in formats would pay
        import exchange_calendars  # the calendar's name is checked here, not at the first file

        if not isinstance(sessions, str) or sessions not in exchange_calendars.get_calendar_names():
            raise err(
                f'{label}: `sessions` must name an exchange calendar such as "XNYS", found {sessions!r}'
            )
    return sessions


def _fields(err: _Errors, b: dict[str, Any], label: str, rt: RecordType) -> dict[str, Source]:
    """``fields`` (from columns) and ``constants``: each a field of the record, given once; a constant
    checked against the field's allowed values and type; every required field given."""
    rname = rt.name
    fields: dict[str, Source] = {}
    for key in ("fields", "constants"):
        tbl = b.get(key, {})
        if not isinstance(tbl, dict):
            raise err(f"{label}: `{key}` must be a table")
        for f, spec in tbl.items():
            if f in IDENTITY_FIELDS:
                raise err(
                    f"{label} → {key}.{f}: {f} is set by the record's identity/time keys "
                    "(venue, symbol, base, quote, market, time, interval), not in fields"
                )
            if f not in rt.columns:
                raise err(f"{label} → {key}.{f}: {rname} has no field {f!r}; fields: {list(rt.columns)}")
            if f in fields:
                raise err(f"{label}: field {f!r} is given twice")
            if key == "constants":
                if isinstance(spec, dict | list):
                    raise err(f"{label} → constants.{f}: must be a single value")
                fields[f] = Source(value=spec)
            else:
                fields[f] = _source(err, spec, f"{label} → fields.{f}", constant_strings=False)
    for fld in rt.fields:
        if fld.name not in fields or not fields[fld.name].is_constant:
            continue
        v = fields[fld.name].value
        if fld.allowed is not None and v not in fld.allowed:
            raise err(f"{label} → {fld.name}: must be one of {list(fld.allowed)}, found {v!r}")
        if fld.polars in (pl.Float64, pl.Int64) and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise err(f"{label} → {fld.name}: a {rname} {fld.name} is a number, found {v!r}")
    provided = IDENTITY_FIELDS | set(fields)
    missing = [f.name for f in rt.fields if not f.nullable and f.default is None and f.name not in provided]
    if missing:
        raise err(f"{label}: {rname} records need field(s) {missing}; map them in [record.fields]")
    return fields


def _source(err: _Errors, spec: Any, where: str, *, constant_strings: bool) -> Source:
    """A value source. A bare string is a constant for identity keys, a column name for fields."""
    if isinstance(spec, str):
        return Source(value=spec) if constant_strings else Source(column=spec)
    if isinstance(spec, bool | int | float):
        return Source(value=spec)
    if not isinstance(spec, dict):
        raise err(f'{where}: expected a string or a table such as {{column = "..."}}, found {spec!r}')
    err.unknown(spec, _SOURCE_KEYS, where)
    kinds = [k for k in ("column", "value", "expr", "template") if k in spec]
    if len(kinds) != 1:
        raise err(f"{where}: give exactly one of column, value, expr, template (found {kinds or 'none'})")
    kind = kinds[0]
    kw: dict[str, Any] = {}
    if kind == "column":
        kw["column"] = err.text(spec, "column", where)
    elif kind == "value":
        kw["value"] = spec["value"]
    elif kind == "expr":
        try:
            kw["expr"] = parse_expression(err.text(spec, "expr", where))
        except ExprError as exc:
            raise err(f"{where}: {exc}") from None
    else:
        kw["template"] = _template(err, err.text(spec, "template", where), where)
    if "scale" in spec:
        sc = spec["scale"]
        if isinstance(sc, bool) or not isinstance(sc, int | float):
            raise err(f"{where}: `scale` must be a number (0.01 turns percent into a fraction), found {sc!r}")
        kw["scale"] = float(sc)
    if "map" in spec:
        mp = spec["map"]
        if not isinstance(mp, dict):
            raise err(f"{where}: `map` must be a table of text value → value")
        kw["mapping"] = {str(k): v for k, v in mp.items()}
    if "default" in spec:
        if "map" not in spec:
            raise err(f"{where}: `default` applies to values missing from `map`; add a `map`")
        kw["default"] = spec["default"]
    if "case" in spec:
        if spec["case"] not in ("lower", "upper"):
            raise err(f'{where}: `case` must be "lower" or "upper", found {spec["case"]!r}')
        kw["case"] = spec["case"]
    return Source(**kw)


def _template(err: _Errors, text: str, where: str) -> tuple[tuple[str, str | None], ...]:
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise err(f"{where}: bad template {text!r}: {exc}") from None
    out: list[tuple[str, str | None]] = []
    for literal, field, spec, conv in pieces:
        if spec or conv:
            raise err(f"{where}: template fields take no format spec: {text!r}")
        out.append((literal, field if field else None))
    return tuple(out)


def _time(err: _Errors, spec: Any, label: str) -> TimeSpec:
    where = f"{label} → time"
    if spec is None:
        raise err(f"{label}: no `time` (and no [format].time): say which column holds the time")
    if isinstance(spec, str):
        spec = {"column": spec}
    if not isinstance(spec, dict):
        raise err(f'{where}: expected {{column = "...", unit = "ms"}}')
    err.unknown(spec, _TIME_KEYS, where)
    column = err.text(spec, "column", where)
    fmt = spec.get("format")
    unit = spec.get("unit", "format" if fmt else "ms")
    if unit not in TIME_UNITS:
        raise err(f"{where}: `unit` must be one of {list(TIME_UNITS)}, found {unit!r}")
    if unit == "format" and not isinstance(fmt, str):
        raise err(f'{where}: unit "format" needs `format`, a strftime pattern such as "%Y-%m-%d %H:%M"')
    rnd = _duration(err, spec["round"], f"{where}.round") if "round" in spec else None
    return TimeSpec(column=column, unit=unit, format=fmt if isinstance(fmt, str) else None, round_ms=rnd)


def _duration(err: _Errors, text: Any, where: str) -> int:
    try:
        return interval_ms(str(text))
    except ValueError as exc:
        raise err(f"{where}: {exc}") from None


def _span(err: _Errors, spec: Any, where: str) -> Span:
    if spec == "infer":
        return Span("infer")
    if isinstance(spec, str):
        return Span("fixed", ms=_duration(err, spec, where))
    if isinstance(spec, dict) and "infer" in spec:
        err.unknown(spec, {"infer", "max", "round"}, where)
        if spec["infer"] == "mode":
            return Span("infer")
        if spec["infer"] != "spacing":
            raise err(f'{where}: `infer` must be "mode" or "spacing", found {spec["infer"]!r}')
        return Span(
            "spacing",
            max_ms=_duration(err, spec["max"], f"{where}.max") if "max" in spec else None,
            round_ms=_duration(err, spec["round"], f"{where}.round") if "round" in spec else None,
        )
    if isinstance(spec, dict):
        return Span("source", source=_source(err, spec, where, constant_strings=True))
    raise err(f'{where}: expected a duration ("4h"), "infer", or a table; found {spec!r}')


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _shift(err: _Errors, spec: Any, label: str) -> Shift:
    where = f"{label} → shift"
    if isinstance(spec, dict):
        err.unknown(spec, {"weekday", "at"}, where)
        day = str(spec.get("weekday", "")).lower()[:3]
        if day not in _WEEKDAYS:
            raise err(
                f'{where}: `weekday` must be one of {list(_WEEKDAYS)}, e.g. {{weekday = "fri", at = "21h"}}'
            )
        at = _duration(err, spec["at"], f"{where}.at") if "at" in spec else 0
        return Shift(ms=at, weekday=_WEEKDAYS.index(day))
    text = str(spec).strip().replace(" ", "")
    if text in ("0", ""):
        return Shift()
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body == "bar":
        return Shift(bars=sign)
    return Shift(ms=sign * _duration(err, body, where))
