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
from typing import Any

import orjson
import polars as pl

from perpscope.core.time import MINUTE_MS
from perpscope.records import canonical_symbol as _canonical
from perpscope.records.derivatives import FUNDING, LIQUIDATIONS, OPEN_INTEREST, Liquidation, OpenInterest
from perpscope.records.market import CANDLES
from perpscope.venues import payloads
from perpscope.venues.payloads import QUOTES, Row, Series, Settlement, WireError

VENUE = "bybit"


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


def parse_funding_intervals(obj: Any) -> dict[str, int]:
    """``/v5/market/instruments-info`` → funding interval (ms) per symbol (``fundingInterval`` is in
    minutes)."""
    out: dict[str, int] = {}
    for i, r in enumerate(_env(obj)["list"]):
        try:
            minutes = int(r["fundingInterval"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"instruments-info row {i}: {exc!r} in {str(r)[:200]}") from exc
        if minutes > 0:  # dated futures carry 0: they pay no funding
            out[str(r["symbol"])] = minutes * MINUTE_MS
    return out


def parse_funding_history(obj: Any, interval_ms: int | None) -> pl.DataFrame:
    """``/v5/market/funding/history`` → settled funding; a row's interval is the spacing to the previous
    settlement, and for the first row of the page ``interval_ms`` (the symbol's ``fundingInterval``
    from :func:`parse_funding_intervals`; None only when Bybit did not say: then 8 h).
    """
    settlements = []
    for i, r in enumerate(_env(obj)["list"]):
        try:
            series = parse_symbol(r["symbol"]).series
            settlements.append(Settlement(series, int(r["fundingRateTimestamp"]), float(r["fundingRate"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"funding history row {i}: {exc!r} in {r!r}") from exc
    return FUNDING.from_records(payloads.settled_funding(settlements, lambda _: interval_ms))


def parse_mark_prices(obj: Any) -> dict[int, float]:
    """``/v5/market/mark-price-kline`` → the mark price at each bar's start (its open), by start ms."""
    out: dict[int, float] = {}
    for i, r in enumerate(_env(obj)["list"]):
        try:
            out[int(r[0])] = float(r[1])
        except (IndexError, TypeError, ValueError) as exc:
            raise WireError(
                f"mark-price kline {i}: expected [start, open, high, low, close], got {r!r}"
            ) from exc
    return out


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

    def snapshot(r: dict[str, Any]) -> OpenInterest:
        ts = int(r["timestamp"])
        base, usd = open_interest_units(sym, float(r["openInterest"]), prices.get(ts))
        return payloads.record(
            OpenInterest, sym.series, interval_ms=interval_ms, ts_ms=ts, oi_base=base, oi_usd=usd
        )

    out = payloads.each_row(_env(obj)["list"], snapshot, "open interest")
    return OPEN_INTEREST.from_records(sorted(out, key=lambda o: o.ts_ms))


def parse_ticker_open_interest(obj: Any) -> pl.DataFrame:
    """``/v5/market/tickers`` → one open-interest snapshot (``interval_ms`` 0) per ticker, at ``time``."""
    res = _env(obj)
    out = []
    for i, r in enumerate(res.get("list") or []):
        try:
            sym = parse_symbol(r["symbol"])
            ts = int(obj.get("time") or r.get("ts"))
            oi, value = float(r["openInterest"]), float(r["openInterestValue"])
            base, usd = (value, oi) if sym.inverse else (oi, value)  # Bybit's own value: no price needed
            out.append(
                payloads.record(OpenInterest, sym.series, interval_ms=0, ts_ms=ts, oi_base=base, oi_usd=usd)
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"ticker {i}: {exc!r} in {str(r)[:200]}") from exc
    return OPEN_INTEREST.from_records(out)


def parse_klines(obj: Any, symbol: str, interval_ms: int) -> pl.DataFrame:
    """``/v5/market/kline`` → trade candles, oldest first, volumes in base and quote units."""
    sym = parse_symbol(symbol)
    out = []
    for i, r in enumerate(_env(obj)["list"]):
        try:
            vol, turn = float(r[5]), float(r[6])
            base_v, quote_v = (turn, vol) if sym.inverse else (vol, turn)
            out.append(
                payloads.candle(
                    sym.series, interval_ms, int(r[0]), r[1:5], volume_base=base_v, volume_quote=quote_v
                )
            )
        except (IndexError, TypeError, ValueError) as exc:
            raise WireError(
                f"kline {i}: expected [start, open, high, low, close, volume, turnover], got {r!r}"
            ) from exc
    return CANDLES.from_records(sorted(out, key=lambda c: c.ts_ms))
