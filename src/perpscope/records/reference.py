"""Reference data: instruments and versioned leverage (maintenance-margin) brackets.

Exchange mechanics change over time, so both carry the instant from which they are in force; a
computation at time t uses the newest version whose ``*_from_ms`` ≤ t.
"""

from __future__ import annotations

from dataclasses import dataclass

from perpscope.records.base import RecordType
from perpscope.records.market import Market


@dataclass(frozen=True, slots=True)
class Instrument:
    """Contract specification in force from ``valid_from_ms``.

    ``contract_size`` is base units per contract (1 for Binance USDⓈ-M linear; e.g. 0.01 BTC for an
    OKX BTC-USDT-SWAP contract); ``tick_size`` in quote currency; ``lot_size`` in base units.
    """

    venue: str
    symbol: str
    canonical: str
    market: Market
    base: str
    quote: str
    settle: str
    valid_from_ms: int
    contract_size: float
    tick_size: float
    lot_size: float
    min_notional_usd: float | None = None


@dataclass(frozen=True, slots=True)
class LeverageBracket:
    """One notional tier of a maintenance-margin table in force from ``effective_from_ms``.

    A position whose notional lies in (``notional_floor_usd``, ``notional_cap_usd``] may use up to
    ``max_leverage`` and must keep maintenance margin = notional × ``mmr`` − ``maint_amount_usd``.
    ``source`` names where the table was published.
    """

    venue: str
    symbol: str
    canonical: str
    effective_from_ms: int
    bracket: int
    notional_floor_usd: float
    notional_cap_usd: float
    max_leverage: float
    mmr: float
    maint_amount_usd: float
    source: str


INSTRUMENTS = RecordType(
    "instruments",
    Instrument,
    key=("venue", "canonical", "valid_from_ms"),
    time_col="valid_from_ms",
    doc="contract specifications, versioned by valid_from_ms",
)
LEVERAGE_BRACKETS = RecordType(
    "leverage_brackets",
    LeverageBracket,
    key=("venue", "canonical", "effective_from_ms", "bracket"),
    time_col="effective_from_ms",
    doc="maintenance-margin tiers, versioned by effective_from_ms",
)
