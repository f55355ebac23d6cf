"""Bybit v5 wire formats → records (pure). Linear (USDT/USDC-margined) perpetuals; inverse where noted.

- ``allLiquidation.{symbol}`` websocket topic: **every** liquidation (pushed every 500 ms), fields
  ``T`` (ms), ``s``, ``S``, ``v`` (size), ``p`` (bankruptcy price). Unlike Binance, ``S`` is the side of
  the *position*: ``Buy`` ⇒ a long position was liquidated. Linear sizes are in base units; inverse
  sizes are USD contracts (1 USD each), converted to base units at the given price.
- ``/v5/market/funding/history``: ``result.list`` of ``{symbol, fundingRate, fundingRateTimestamp}``,
  newest first, 200 per page. It carries no interval: a row's interval is the spacing to the previous
  settlement, and for the first row of a page the symbol's ``fundingInterval`` from instruments-info.
- ``/v5/market/instruments-info``: ``result.list`` of instruments with ``symbol`` and ``fundingInterval``
  (**minutes**: 480 = 8 h, 60 = 1 h).
- ``/v5/market/open-interest``: ``result.list`` of ``{openInterest, timestamp}``; linear in base units,
  inverse in USD contracts. One-sided. The other unit is derived at the mark price of the same instant
  (``/v5/market/mark-price-kline``: ``result.list`` of ``[start, open, high, low, close]``, newest
  first; the open of the bar starting at the snapshot's timestamp).
- ``/v5/market/tickers``: ``result.list`` of ticker objects with ``openInterest``, ``openInterestValue``
  and ``markPrice``; linear OI in base units and its value in USD, inverse OI in USD contracts and its
  value in base (coin). The answer's ``time`` (ms) stamps the snapshot.
- ``/v5/market/kline``: ``result.list`` of ``[start, open, high, low, close, volume, turnover]``, newest
  first; linear volume in base, turnover in quote; inverse volume in USD contracts, turnover in base.

References
----------
https://bybit-exchange.github.io/docs/v5/websocket/public/all-liquidation
https://bybit-exchange.github.io/docs/v5/market/history-fund-rate
https://bybit-exchange.github.io/docs/v5/market/open-interest
https://bybit-exchange.github.io/docs/v5/market/kline
https://bybit-exchange.github.io/docs/v5/market/tickers
https://bybit-exchange.github.io/docs/v5/market/instrument
https://bybit-exchange.github.io/docs/v5/market/mark-kline
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
import orjson
import polars as pl

from perpscope.core.time import MINUTE_MS
from perpscope.records import canonical_symbol as _canonical
from perpscope.records.derivatives import FUNDING, LIQUIDATIONS, OPEN_INTEREST, Liquidation, OpenInterest
from perpscope.records.market import CANDLES
from perpscope.venues import payloads
from perpscope.venues.payloads import QUOTES, Row, Series, Settlement, WireError

VENUE = "bybit"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BybitSymbol:
    """A Bybit perpetual's parts; ``inverse`` contracts are sized in USD and settle in the coin."""

    symbol: str
    base: str
    quote: str
    inverse: bool
    canonical: str

    @property
    def category(self) -> str:
        """The v5 ``category`` request parameter of this symbol."""
        return "inverse" if self.inverse else "linear"

    @property
    def series(self) -> Series:
        return Series(VENUE, self.symbol, self.canonical)


def parse_symbol(symbol: str) -> BybitSymbol:
    """``BTCUSDT`` (linear), ``BTCPERP`` (USDC perpetual), ``BTCUSD`` (inverse) → parts.

    Raises
    ------
    ValueError
        Dated contracts (``BTC-26DEC25``) and unknown quotes.
    """
    s = symbol.strip().upper()
    if not s.isascii() or not s.isalnum():
        raise ValueError(f"expected a Bybit perpetual symbol such as BTCUSDT, got {symbol!r}")
    if s.endswith("PERP") and len(s) > 4:
        base, quote = s[:-4], "USDC"
    else:
        for q in QUOTES:
            if s.endswith(q) and len(s) > len(q):
                base, quote = s[: -len(q)], q
                break
        else:
            raise ValueError(f"cannot split {symbol!r}: no known quote ({', '.join(QUOTES)})")
    return BybitSymbol(s, base, quote, quote == "USD", _canonical(base, quote, "perp"))


def _env(obj: Any) -> Any:
    """``result`` of a v5 envelope; a non-zero ``retCode`` is an error naming Bybit's message."""
    if not isinstance(obj, dict) or "result" not in obj:
        raise WireError(f"expected a Bybit v5 envelope with 'result', got {str(obj)[:120]!r}")
    if obj.get("retCode", 0) != 0:
        raise WireError(f"Bybit answered retCode {obj.get('retCode')}: {obj.get('retMsg')}")
    return obj["result"]


def liquidation(d: dict[str, Any]) -> Liquidation:
    """One ``allLiquidation`` entry → a :class:`~perpscope.records.Liquidation`."""
    sym = parse_symbol(d["s"])
    side = payloads.liquidated_side(d["S"], longs="Buy", shorts="Sell")  # Bybit: the position side
    px, size = float(d["p"]), float(d["v"])
    qty = size / px if sym.inverse else size
    return payloads.liquidation(sym.series, ts_ms=int(d["T"]), side=side, price=px, qty_base=qty)


class StreamParser(payloads.FrameCounter):
    """Bybit public websocket frames → records; control answers, unknown topics and bad frames counted."""

    def parse(self, raw: str | bytes) -> list[Row]:
        msg = self.decode(raw)
        if msg is None:
            return []
        topic = msg.get("topic")
        if topic is None:
            self.control += 1  # {"success": true, "op": "subscribe", ...} or pong
            return []
        if not str(topic).startswith("allLiquidation."):
            self.unknown += 1
            return []
        out: list[Row] = []
        for d in msg.get("data") or []:
            try:
                out.append(("liquidations", LIQUIDATIONS, liquidation(d)))
            except (KeyError, TypeError, ValueError):
                self.malformed += 1
        return out


def subscribe_message(symbols: Sequence[str]) -> str:
    """``{"op": "subscribe", "args": ["allLiquidation.BTCUSDT", ...]}``."""
    return orjson.dumps(
        {"op": "subscribe", "args": [f"allLiquidation.{s.upper()}" for s in symbols]}
    ).decode()


# -- REST: the v5 payloads as typed structs (field names as Bybit spells them; numbers arrive as strings
# and are converted by payloads.typed, which names the first field that does not fit) ------------------


class _Listed(msgspec.Struct, Generic[T]):
    """A v5 ``result``: its ``list`` of rows."""

    rows: list[T] = msgspec.field(name="list")


class _Instrument(msgspec.Struct, rename="camel"):
    symbol: str
    funding_interval: int  # minutes; 0 for dated futures


class _FundingRow(msgspec.Struct, rename="camel"):
    symbol: str
    funding_rate_timestamp: int
    funding_rate: float


class _MarkKline(msgspec.Struct, array_like=True):
    start: int
    open: float


class _OpenInterestRow(msgspec.Struct, rename="camel"):
    open_interest: float
    timestamp: int


class _Ticker(msgspec.Struct, rename="camel"):
    symbol: str
    open_interest: float
    open_interest_value: float
    ts: int | None = None


class _Kline(msgspec.Struct, array_like=True):
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    turnover: float


def _rows(obj: Any, row: type[T], what: str) -> list[T]:
    """The typed rows of a v5 envelope's ``result.list`` (an error envelope names Bybit's message)."""
    return payloads.typed(_env(obj), _Listed[row], what).rows  # type: ignore[valid-type]


def _symbol(symbol: str, what: str) -> BybitSymbol:
    """A symbol named inside a payload: one that cannot be split is a :class:`WireError`."""
    try:
        return parse_symbol(symbol)
    except ValueError as exc:
        raise WireError(f"{what}: {exc}") from exc


def parse_funding_intervals(obj: Any) -> dict[str, int]:
    """``/v5/market/instruments-info`` → funding interval (ms) per symbol (``fundingInterval`` is in
    minutes; dated futures carry 0: they pay no funding)."""
    rows = _rows(obj, _Instrument, "instruments-info")
    return {r.symbol: r.funding_interval * MINUTE_MS for r in rows if r.funding_interval > 0}


def parse_funding_history(obj: Any, interval_ms: int | None) -> pl.DataFrame:
    """``/v5/market/funding/history`` → settled funding; a row's interval is the spacing to the previous
    settlement, and for the first row of the page ``interval_ms`` (the symbol's ``fundingInterval``
    from :func:`parse_funding_intervals`; None only when Bybit did not say: then 8 h).
    """
    settlements = [
        Settlement(_symbol(r.symbol, "funding history").series, r.funding_rate_timestamp, r.funding_rate)
        for r in _rows(obj, _FundingRow, "funding history")
    ]
    return FUNDING.from_records(payloads.settled_funding(settlements, lambda _: interval_ms))


def parse_mark_prices(obj: Any) -> dict[int, float]:
    """``/v5/market/mark-price-kline`` → the mark price at each bar's start (its open), by start ms."""
    return {k.start: k.open for k in _rows(obj, _MarkKline, "mark-price kline [start, open, ...]")}


def open_interest_units(
    sym: BybitSymbol, size: float, price: float | None
) -> tuple[float | None, float | None]:
    """``(oi_base, oi_usd)`` from Bybit's ``openInterest`` (linear: base units; inverse: USD contracts)
    and the mark price at the same instant (None: the derived unit stays unknown)."""
    if sym.inverse:
        return (size / price if price else None), size
    return size, (size * price if price else None)


def parse_open_interest(
    obj: Any, symbol: str, interval_ms: int, marks: Mapping[int, float] | None = None
) -> pl.DataFrame:
    """``/v5/market/open-interest`` → open interest in both units, oldest first.

    ``marks`` is the mark price by instant (:func:`parse_mark_prices` of the same window); a snapshot
    whose instant has no mark price keeps only the unit Bybit gave.
    """
    sym = parse_symbol(symbol)
    prices = marks or {}
    out = []
    for r in _rows(obj, _OpenInterestRow, "open interest"):
        base, usd = open_interest_units(sym, r.open_interest, prices.get(r.timestamp))
        out.append(
            payloads.record(
                OpenInterest, sym.series, interval_ms=interval_ms, ts_ms=r.timestamp, oi_base=base, oi_usd=usd
            )
        )
    return OPEN_INTEREST.from_records(sorted(out, key=lambda o: o.ts_ms))


def parse_ticker_open_interest(obj: Any) -> pl.DataFrame:
    """``/v5/market/tickers`` → one open-interest snapshot (``interval_ms`` 0) per ticker, at ``time``
    (the envelope's; a ticker's own ``ts`` when the envelope has none)."""
    at = obj.get("time") if isinstance(obj, dict) else None
    out = []
    for i, r in enumerate(_rows(obj, _Ticker, "tickers")):
        sym = _symbol(r.symbol, "tickers")
        ts = at or r.ts
        if ts is None:
            raise WireError(f"tickers: ticker {i} has no instant (no 'time' in the envelope, no 'ts')")
        oi, value = r.open_interest, r.open_interest_value
        base, usd = (value, oi) if sym.inverse else (oi, value)  # Bybit's own value: no price needed
        out.append(
            payloads.record(OpenInterest, sym.series, interval_ms=0, ts_ms=int(ts), oi_base=base, oi_usd=usd)
        )
    return OPEN_INTEREST.from_records(out)


def parse_klines(obj: Any, symbol: str, interval_ms: int) -> pl.DataFrame:
    """``/v5/market/kline`` → trade candles, oldest first, volumes in base and quote units."""
    sym = parse_symbol(symbol)
    out = []
    for k in _rows(obj, _Kline, "kline [start, open, high, low, close, volume, turnover]"):
        base_v, quote_v = (k.turnover, k.volume) if sym.inverse else (k.volume, k.turnover)
        out.append(
            payloads.candle(
                sym.series,
                interval_ms,
                k.start,
                (k.open, k.high, k.low, k.close),
                volume_base=base_v,
                volume_quote=quote_v,
            )
        )
    return CANDLES.from_records(sorted(out, key=lambda c: c.ts_ms))
