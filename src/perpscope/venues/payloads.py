"""What every venue's pure ``wire`` module shares: the one payload error, REST payloads as typed
structs (:func:`typed`, msgspec) and the per-row error rule (:func:`each_row`), the series a record
belongs to, records built by keyword (:func:`record`, :func:`candle`, :func:`liquidation`),
settlement-time rounding, the funding-interval rule (:func:`settled_funding`), the liquidated side, and
the websocket frame decoder with its counters (:class:`FrameCounter`).

Pure: no I/O. Each venue's ``wire`` turns its own payload shapes into records through these helpers, so
a rule (how a funding interval is read, which side a liquidation order closes) is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, TypeVar, cast

import msgspec
import orjson

from perpscope.core.time import HOUR_MS, SECOND_MS
from perpscope.records import Candle, Funding, Liquidation, RecordType
from perpscope.records.derivatives import PositionSide
from perpscope.records.market import Market, PriceType

R = TypeVar("R")

#: Quote currencies of the perpetuals Bybit and OKX list by compact symbol (``BTCUSDT``): USDT before USD.
QUOTES = ("USDT", "USDC", "USD")
#: What a websocket parser returns per record: (live stream name, record type, record).
Row = tuple[str, RecordType, Any]
#: What a batch parser returns per item: (live stream name, record type, a record or a polars frame of
#: rows whose columns are the record's, not yet conformed).
BatchItem = tuple[str, RecordType, Any]
#: Funding interval of a perpetual whose venue says nothing else (Binance, Bybit and OKX default to 8 h).
DEFAULT_FUNDING_INTERVAL_MS = 8 * HOUR_MS
#: Longest funding interval any venue uses; a spacing longer than this is a gap, not an interval.
MAX_FUNDING_INTERVAL_MS = 24 * HOUR_MS


class WireError(ValueError):
    """A payload does not have the shape its venue documents (the message names the venue's row)."""


@dataclass(frozen=True, slots=True)
class Series:
    """Who a record belongs to: venue, the venue's symbol, the canonical symbol, and the market."""

    venue: str
    symbol: str
    canonical: str
    market: Market = "perp"


def record(cls: type[R], series: Series, **values: Any) -> R:
    """A record of ``series`` built by keyword: ``cls`` is a record dataclass (``OpenInterest``,
    ``Funding``, ...), ``values`` its fields other than venue, symbol, canonical (and market, for the
    records that have one, taken from ``series``). A misspelt or missing field is a ``TypeError``."""
    ids: dict[str, Any] = {"venue": series.venue, "symbol": series.symbol, "canonical": series.canonical}
    if _has_market(cast(type, cls)):
        ids["market"] = series.market
    return cast(Any, cls)(**ids, **values)


@cache
def _has_market(cls: type) -> bool:
    """Whether a record dataclass has a ``market`` field (asked once per class: live parsing is hot)."""
    return "market" in {f.name for f in fields(cls)}


def candle(
    series: Series,
    interval_ms: int,
    ts_ms: int,
    ohlc: Sequence[Any],
    *,
    price_type: PriceType = "trade",
    volume_base: float | None = None,
    volume_quote: float | None = None,
    trades: int | None = None,
    taker_buy_base: float | None = None,
    taker_buy_quote: float | None = None,
) -> Candle:
    """A :class:`~perpscope.records.Candle` of ``series`` opening at ``ts_ms``, built by keyword.

    ``ohlc`` is open, high, low, close in that order (numbers or numeric strings, as venues send them).
    Volumes are in base units (``volume_base``, ``taker_buy_base``) and quote currency (``*_quote``).

    Raises
    ------
    ValueError
        ``ohlc`` does not hold four numbers.
    """
    o, h, low, c = (float(x) for x in ohlc)
    return record(
        Candle,
        series,
        price_type=price_type,
        interval_ms=interval_ms,
        ts_ms=ts_ms,
        open=o,
        high=h,
        low=low,
        close=c,
        volume_base=volume_base,
        volume_quote=volume_quote,
        trades=trades,
        taker_buy_base=taker_buy_base,
        taker_buy_quote=taker_buy_quote,
    )


def round_to_second(ms: int | str) -> int:
    """A settlement instant to the nearest second: venues stamp settlements a few ms after the hour."""
    return (int(ms) + SECOND_MS // 2) // SECOND_MS * SECOND_MS


def funding_interval_ms(spacing_ms: int | None, fallback_ms: int | None) -> int:
    """The funding interval of a settlement: the spacing to the previous settlement when it is a whole
    number of hours up to a day (a plausible interval, so it follows a venue that changes a symbol's
    interval), else ``fallback_ms`` (what the venue says the interval is), else 8 h.

    ``spacing_ms`` is None for a settlement without a predecessor (the first row of a page): that row
    gets ``fallback_ms``, which callers must take from the venue (Binance ``fundingInfo``, Bybit
    ``instruments-info``, OKX ``funding-rate``) — the 8 h default is right only for 8 h symbols.
    """
    if spacing_ms and 0 < spacing_ms <= MAX_FUNDING_INTERVAL_MS and spacing_ms % HOUR_MS == 0:
        return spacing_ms
    return fallback_ms or DEFAULT_FUNDING_INTERVAL_MS


def liquidated_side(order_side: str, *, longs: str, shorts: str) -> PositionSide:
    """The side of the position a liquidation closed, from the venue's side field.

    ``longs`` / ``shorts`` are the values that mean a long / a short was liquidated (Binance and OKX
    publish the liquidation *order* side, ``SELL``/``sell`` ⇒ long; Bybit the position side, ``Buy`` ⇒
    long).

    Raises
    ------
    ValueError
        Any other value.
    """
    if order_side == longs:
        return "long"
    if order_side == shorts:
        return "short"
    raise ValueError(f"liquidation side must be {longs} or {shorts}, got {order_side!r}")


@dataclass(frozen=True, slots=True)
class Settlement:
    """One funding settlement as a venue's history endpoint gives it (``ts_ms`` not yet rounded)."""

    series: Series
    ts_ms: int
    rate: float
    mark_price: float | None = None


def settled_funding(
    settlements: Iterable[Settlement], interval_of: Callable[[str], int | None]
) -> list[Funding]:
    """Settlements → settled funding rows, oldest first, each with its interval.

    The instant is rounded to the second (:func:`round_to_second`); the interval is the spacing to the
    symbol's previous settlement in ``settlements``, and for its first one ``interval_of(symbol)`` — what
    the venue says the symbol's interval is (:func:`funding_interval_ms`).
    """
    out: list[Funding] = []
    prev: dict[str, int] = {}
    for s in sorted(settlements, key=lambda x: x.ts_ms):
        ts = round_to_second(s.ts_ms)
        sym = s.series.symbol
        step = ts - prev[sym] if sym in prev else None
        prev[sym] = ts
        iv = funding_interval_ms(step, interval_of(sym))
        out.append(record(Funding, s.series, ts_ms=ts, rate=s.rate, interval_ms=iv, mark_price=s.mark_price))
    return out


def liquidation(series: Series, ts_ms: int, side: PositionSide, price: float, qty_base: float) -> Liquidation:
    """A :class:`~perpscope.records.Liquidation` of ``series``; its USD notional is ``qty_base × price``."""
    usd = qty_base * price
    return record(
        Liquidation, series, ts_ms=ts_ms, side=side, price=price, qty_base=qty_base, notional_usd=usd
    )


class FrameCounter:
    """Base of a venue's websocket parser: decodes a frame to a JSON object and counts what it could not
    use (``malformed`` frames, ``unknown`` events, ``control`` answers: the collector reports them)."""

    #: How many reasons for malformed frames :attr:`rejected` keeps (the latest).
    KEEP_REJECTED = 10

    def __init__(self) -> None:
        self.malformed = 0
        self.unknown = 0
        self.control = 0
        self.rejected: list[str] = []

    def reject(self, exc: Exception) -> None:
        """Count a frame (or a row of one) that does not fit and keep why: a :class:`WireError` names the
        field's path, so the collector's status can say which field a venue changed."""
        self.malformed += 1
        self.rejected = [*self.rejected[-(self.KEEP_REJECTED - 1) :], str(exc)]

    def decode(self, raw: str | bytes) -> dict[str, Any] | None:
        """The frame's JSON object, or None (counted as malformed) when it is not one."""
        try:
            msg = orjson.loads(raw)  # ~4× faster than json.loads on these small frames
        except ValueError:
            self.malformed += 1
            return None
        if not isinstance(msg, dict):
            self.malformed += 1
            return None
        return msg


T = TypeVar("T")


def typed(obj: object, kind: type[T], what: str) -> T:
    """Decoded JSON as the typed structs ``kind`` (``msgspec.Struct`` s, lists of them): every field
    checked and converted (numbers that venues send as strings become numbers). A payload that does not
    fit raises :class:`WireError` naming ``what`` and the path of the first bad field (``$[3].time``)."""
    try:
        return msgspec.convert(obj, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise WireError(f"{what}: {exc}") from exc


def each_row(rows: Iterable[Any], build: Callable[[Any], R | None], what: str) -> list[R]:
    """``build(row)`` for every row of a payload, Nones dropped; a row that does not parse (a missing key
    or index, a wrong type, a bad number) raises :class:`WireError` naming ``what``, the row's index and
    the row — a payload is never half-parsed."""
    out: list[R] = []
    for i, r in enumerate(rows):
        try:
            rec = build(r)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise WireError(f"{what} row {i}: {exc!r} in {str(r)[:200]}") from exc
        if rec is not None:
            out.append(rec)
    return out
