"""Market records: candles, trades, taker volume, order-book depth bands.

Units: prices in quote currency per base unit; ``*_base`` in base units; ``*_quote`` in quote
currency; ``*_usd`` in USD (a USD stablecoin quote is taken at par). A bar's ``ts_ms`` is its open
time and ``interval_ms`` its length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from perpscope.records.base import RecordType
from perpscope.records.sources import DEFAULT_SOURCE

Market = Literal["perp", "spot", "future"]
PriceType = Literal["trade", "mark", "index", "premium"]
TakerSide = Literal["buy", "sell"]


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLC bar.

    ``price_type`` says which price: ``trade`` (last-trade klines, perp or spot), ``mark``, ``index``,
    or ``premium`` — Binance's premium index, whose OHLC are *fractions* ((perp − index) / index), not
    prices. Volumes and counts exist only for trade candles.
    """

    venue: str
    symbol: str
    canonical: str
    market: Market
    price_type: PriceType
    interval_ms: int
    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume_base: float | None = None
    volume_quote: float | None = None
    trades: int | None = None
    taker_buy_base: float | None = None
    taker_buy_quote: float | None = None
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class Trade:
    """One (aggregated) trade. ``taker_side`` is the aggressor: ``buy`` when the buyer took liquidity."""

    venue: str
    symbol: str
    canonical: str
    market: Market
    ts_ms: int
    trade_id: int
    price: float
    qty_base: float
    taker_side: TakerSide
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class TakerVolume:
    """Taker buy and sell volume over a bar (base units and/or USD, as the source gives them)."""

    venue: str
    symbol: str
    canonical: str
    market: Market
    interval_ms: int
    ts_ms: int
    buy_base: float | None = None
    sell_base: float | None = None
    buy_usd: float | None = None
    sell_usd: float | None = None
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class BookDepth:
    """Resting depth within a band around mid, as in Binance's ``bookDepth`` files.

    ``band_pct`` is signed percent from mid: −1…−5 are bids within 1…5% below mid, +1…+5 asks above.
    ``depth_base`` and ``notional_usd`` are cumulative from mid to the band's edge.
    """

    venue: str
    symbol: str
    canonical: str
    ts_ms: int
    band_pct: float
    depth_base: float
    notional_usd: float
    source: str = DEFAULT_SOURCE


CANDLES = RecordType(
    "candles",
    Candle,
    key=("venue", "canonical", "price_type", "interval_ms", "ts_ms"),
    doc="OHLC bars (open time ts_ms, length interval_ms); prices in quote currency",
)
TRADES = RecordType(
    "trades",
    Trade,
    key=("venue", "canonical", "trade_id"),
    doc="aggregated trades; price in quote currency, qty in base units",
)
TAKER_VOLUME = RecordType(
    "taker_volume",
    TakerVolume,
    key=("venue", "canonical", "interval_ms", "ts_ms"),
    doc="taker buy/sell volume per bar, base units and/or USD",
)
BOOK_DEPTH = RecordType(
    "book_depth",
    BookDepth,
    key=("venue", "canonical", "ts_ms", "band_pct"),
    doc="cumulative book depth within ±1…5% of mid; base units and USD",
)
