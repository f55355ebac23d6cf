"""Bybit v5 wire formats → records (pure). Linear (USDT/USDC-margined) perpetuals; inverse where noted.

- ``allLiquidation.{symbol}`` websocket topic: **every** liquidation (pushed every 500 ms), fields
  ``T`` (ms), ``s``, ``S``, ``v`` (size), ``p`` (bankruptcy price). Unlike Binance, ``S`` is the side of
  the *position*: ``Buy`` ⇒ a long position was liquidated. Linear sizes are in base units; inverse
  sizes are USD contracts (1 USD each), converted to base units at the given price.
- ``/v5/market/funding/history``: ``result.list`` of ``{symbol, fundingRate, fundingRateTimestamp}``,
  newest first, 200 per page.
- ``/v5/market/open-interest``: ``result.list`` of ``{openInterest, timestamp}``; linear in base units,
  inverse in USD contracts. One-sided.
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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl

from perpscope.core.time import HOUR_MS, SECOND_MS
from perpscope.records import (
    CANDLES,
    FUNDING,
    LIQUIDATIONS,
    OPEN_INTEREST,
    Candle,
    Funding,
    Liquidation,
    OpenInterest,
    RecordType,
    canonical_symbol,
)
from perpscope.records.derivatives import PositionSide

VENUE = "bybit"
DEFAULT_FUNDING_INTERVAL_MS = 8 * HOUR_MS
_QUOTES = ("USDT", "USDC", "USD")

Row = tuple[str, RecordType, Any]


class WireError(ValueError):
    """A payload does not have the shape Bybit documents."""


@dataclass(frozen=True, slots=True)
class BybitSymbol:
    symbol: str
    base: str
    quote: str
    inverse: bool
    canonical: str


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
        for q in _QUOTES:
            if s.endswith(q) and len(s) > len(q):
                base, quote = s[: -len(q)], q
                break
        else:
            raise ValueError(f"cannot split {symbol!r}: no known quote ({', '.join(_QUOTES)})")
    return BybitSymbol(s, base, quote, quote == "USD", canonical_symbol(base, quote, "perp"))


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
    side: PositionSide
    if d["S"] == "Buy":
        side = "long"
    elif d["S"] == "Sell":
        side = "short"
    else:
        raise ValueError(f"allLiquidation side must be Buy or Sell, got {d['S']!r}")
    px, size = float(d["p"]), float(d["v"])
    qty = size / px if sym.inverse else size
    return Liquidation(VENUE, sym.symbol, sym.canonical, int(d["T"]), side, px, qty, qty * px)


class StreamParser:
    """Bybit public websocket frames → records; control answers, unknown topics and bad frames counted."""

    def __init__(self) -> None:
        self.malformed = 0
        self.unknown = 0
        self.control = 0

    def parse(self, raw: str | bytes) -> list[Row]:
        try:
            msg = orjson.loads(raw)
        except ValueError:
            self.malformed += 1
            return []
        if not isinstance(msg, dict):
            self.malformed += 1
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


def parse_funding_history(obj: Any, interval_ms: int | None = None) -> pl.DataFrame:
    """``/v5/market/funding/history`` → settled funding; the interval is the spacing between settlements
    where two are present, else ``interval_ms`` (from instruments-info), else 8 h."""
    rows = sorted(_env(obj)["list"], key=lambda r: int(r["fundingRateTimestamp"]))
    out: list[Funding] = []
    prev: int | None = None
    for i, r in enumerate(rows):
        try:
            sym = parse_symbol(r["symbol"])
            ts = (int(r["fundingRateTimestamp"]) + SECOND_MS // 2) // SECOND_MS * SECOND_MS
            step = ts - prev if prev is not None else None
            iv = step if step and step % HOUR_MS == 0 and step <= 24 * HOUR_MS else None
            out.append(
                Funding(
                    VENUE,
                    sym.symbol,
                    sym.canonical,
                    ts,
                    float(r["fundingRate"]),
                    iv or interval_ms or DEFAULT_FUNDING_INTERVAL_MS,
                )
            )
            prev = ts
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"funding history row {i}: {exc!r} in {r!r}") from exc
    return FUNDING.from_records(out)


def parse_open_interest(obj: Any, symbol: str, interval_ms: int, price: float | None = None) -> pl.DataFrame:
    """``/v5/market/open-interest`` → open interest (linear: base units; inverse: USD, base at ``price``)."""
    sym = parse_symbol(symbol)
    out = []
    for i, r in enumerate(_env(obj)["list"]):
        try:
            v = float(r["openInterest"])
            base: float | None
            usd: float | None
            if sym.inverse:
                base, usd = (v / price if price else None), v
            else:
                base, usd = v, (v * price if price else None)
            out.append(
                OpenInterest(VENUE, sym.symbol, sym.canonical, interval_ms, int(r["timestamp"]), base, usd)
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"open interest row {i}: {exc!r} in {r!r}") from exc
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
            base, usd = (value, oi) if sym.inverse else (oi, value)
            out.append(OpenInterest(VENUE, sym.symbol, sym.canonical, 0, ts, base, usd))
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
                Candle(
                    VENUE,
                    sym.symbol,
                    sym.canonical,
                    "perp",
                    "trade",
                    interval_ms,
                    int(r[0]),
                    float(r[1]),
                    float(r[2]),
                    float(r[3]),
                    float(r[4]),
                    base_v,
                    quote_v,
                )
            )
        except (IndexError, TypeError, ValueError) as exc:
            raise WireError(
                f"kline {i}: expected [start, open, high, low, close, volume, turnover], got {r!r}"
            ) from exc
    return CANDLES.from_records(sorted(out, key=lambda c: c.ts_ms))
