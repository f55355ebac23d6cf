"""Derivatives records: funding, open interest, liquidations, liquidation totals, long/short ratios.

Conventions (see ``shared/DESIGN.md``):

- Funding ``rate`` is a fraction per funding interval (0.0001 = 0.01%) with its ``interval_ms``;
  ``ts_ms`` is the settlement instant (venues stamp it a few ms late; parsers round to the second).
  ``kind`` tells a settlement (``settled``: what was paid) from a sampled live/predicted rate
  (``sampled``: e.g. a data vendor's hourly OHLC of the rate). Only settlements are payments: never
  sum sampled rates as funding paid.
- Open interest is one-sided (contracts outstanding, not longs plus shorts), in base units and USD.
  Snapshot records (open interest, long/short ratios) carry ``ts_ms`` = the instant the value was
  known, so that nothing stamped ``t`` uses information from after ``t``; ``interval_ms`` is the
  sampling period of the series (0 for an irregular snapshot).
- A liquidation's ``side`` is the side of the *position* that was liquidated. Venues publish the side
  of the liquidation order, which is the opposite: SELL order ⇒ long liquidated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from perpscope.records.base import RecordType
from perpscope.records.sources import DEFAULT_SOURCE

PositionSide = Literal["long", "short"]
FundingKind = Literal["settled", "sampled"]
RatioKind = Literal["global_accounts", "top_accounts", "top_positions", "taker_volume"]


@dataclass(frozen=True, slots=True)
class Funding:
    """A funding rate at ``ts_ms``: ``rate`` per interval, ``interval_ms`` the interval it pays for.

    ``kind = "settled"`` (default) is a settlement; ``"sampled"`` a rate observed between settlements.
    """

    venue: str
    symbol: str
    canonical: str
    ts_ms: int
    rate: float
    interval_ms: int
    mark_price: float | None = None
    kind: FundingKind = "settled"
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class OpenInterest:
    """Open interest at ``ts_ms``: ``oi_base`` in base units (coins), ``oi_usd`` its USD value.

    Both units, wherever the venue gives enough to derive them: the venue's own value (Binance
    ``sumOpenInterestValue``, OKX ``oiUsd``, Bybit tickers' ``openInterestValue``) or the size at the
    mark price of the same instant (Bybit history: linear coins × mark, inverse USD ÷ mark; Hyperliquid
    coins × ``markPx``). A unit is null only where no price of that instant exists.

    The rule for every consumer: choose the unit deliberately and name it — coins (``oi_base``) to see
    positions opened or closed, USD (``oi_usd``) to weigh venues or compare with notional flows — and
    never fall back silently from one to the other: a total in one unit counts the rows that lack it
    (:func:`perpscope.metrics.open_interest.aggregate_oi` returns ``n_missing``). See docs/metrics.md,
    "Open interest units".
    """

    venue: str
    symbol: str
    canonical: str
    interval_ms: int
    ts_ms: int
    oi_base: float | None = None
    oi_usd: float | None = None
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class Liquidation:
    """One forced liquidation. ``price`` is the average fill price when known, else the order price."""

    venue: str
    symbol: str
    canonical: str
    ts_ms: int
    side: PositionSide
    price: float
    qty_base: float
    notional_usd: float
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class LiquidationTotal:
    """Liquidated USD per bar by position side, for sources that publish totals, not events."""

    venue: str
    symbol: str
    canonical: str
    interval_ms: int
    ts_ms: int
    long_usd: float
    short_usd: float
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class LongShortRatio:
    """A long/short ratio at ``ts_ms``.

    ``kind``: ``global_accounts`` (share of all accounts net long), ``top_accounts`` (top traders by
    account), ``top_positions`` (top traders by position size), ``taker_volume`` (taker buy / sell
    volume). ``long_share`` and ``short_share`` are fractions (0.55 = 55%); ``ratio`` = long/short.
    """

    venue: str
    symbol: str
    canonical: str
    kind: RatioKind
    interval_ms: int
    ts_ms: int
    ratio: float
    long_share: float | None = None
    short_share: float | None = None
    source: str = DEFAULT_SOURCE


FUNDING = RecordType(
    "funding",
    Funding,
    key=("venue", "canonical", "kind", "ts_ms"),
    doc="funding settlements (kind=settled) and sampled rates (kind=sampled); rate per interval_ms",
)
OPEN_INTEREST = RecordType(
    "open_interest",
    OpenInterest,
    key=("venue", "canonical", "interval_ms", "ts_ms"),
    doc="one-sided open interest at ts_ms (the instant it was known), base units and USD",
)
LIQUIDATIONS = RecordType(
    "liquidations",
    Liquidation,
    key=("venue", "canonical", "ts_ms", "side", "price", "qty_base"),
    doc="forced liquidations; side is the liquidated position's side",
)
LIQUIDATION_TOTALS = RecordType(
    "liquidation_totals",
    LiquidationTotal,
    key=("venue", "canonical", "interval_ms", "ts_ms"),
    doc="liquidated USD per bar by position side",
)
LONG_SHORT_RATIOS = RecordType(
    "long_short_ratios",
    LongShortRatio,
    key=("venue", "canonical", "kind", "interval_ms", "ts_ms"),
    doc="long/short ratios (accounts, top traders, taker volume) at ts_ms",
)
