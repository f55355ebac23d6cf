"""Canonical record types and their Arrow schemas — the one data contract.

Every venue parser produces frames of these types; the store files them; every computation reads
them. ``RECORDS`` maps each record's store name to its :class:`RecordType`.
"""

from perpscope.records.base import ConformError, RecordType
from perpscope.records.derivatives import (
    FUNDING,
    LIQUIDATION_TOTALS,
    LIQUIDATIONS,
    LONG_SHORT_RATIOS,
    OPEN_INTEREST,
    Funding,
    Liquidation,
    LiquidationTotal,
    LongShortRatio,
    OpenInterest,
)
from perpscope.records.flows import (
    FUND_FLOWS,
    FUTURES_POSITIONING,
    STABLECOIN_SUPPLY,
    FundFlow,
    FuturesPositioning,
    StablecoinSupply,
)
from perpscope.records.market import (
    BOOK_DEPTH,
    CANDLES,
    TAKER_VOLUME,
    TRADES,
    BookDepth,
    Candle,
    TakerVolume,
    Trade,
)
from perpscope.records.reference import INSTRUMENTS, LEVERAGE_BRACKETS, Instrument, LeverageBracket
from perpscope.records.sources import (
    DEFAULT_SOURCE,
    SOURCE_PRECEDENCE,
    source_kind,
    source_rank,
    source_rank_expr,
)
from perpscope.records.symbols import canonical_symbol, compact, from_ccxt, is_canonical, market_of

RECORDS: dict[str, RecordType] = {
    rt.name: rt
    for rt in (
        CANDLES,
        TRADES,
        TAKER_VOLUME,
        BOOK_DEPTH,
        FUNDING,
        OPEN_INTEREST,
        LIQUIDATIONS,
        LIQUIDATION_TOTALS,
        LONG_SHORT_RATIOS,
        FUND_FLOWS,
        STABLECOIN_SUPPLY,
        FUTURES_POSITIONING,
        INSTRUMENTS,
        LEVERAGE_BRACKETS,
    )
}

__all__ = [
    "BOOK_DEPTH",
    "CANDLES",
    "DEFAULT_SOURCE",
    "FUNDING",
    "FUND_FLOWS",
    "FUTURES_POSITIONING",
    "INSTRUMENTS",
    "LEVERAGE_BRACKETS",
    "LIQUIDATIONS",
    "LIQUIDATION_TOTALS",
    "LONG_SHORT_RATIOS",
    "OPEN_INTEREST",
    "RECORDS",
    "SOURCE_PRECEDENCE",
    "STABLECOIN_SUPPLY",
    "TAKER_VOLUME",
    "TRADES",
    "BookDepth",
    "Candle",
    "ConformError",
    "FundFlow",
    "Funding",
    "FuturesPositioning",
    "Instrument",
    "LeverageBracket",
    "Liquidation",
    "LiquidationTotal",
    "LongShortRatio",
    "OpenInterest",
    "RecordType",
    "StablecoinSupply",
    "TakerVolume",
    "Trade",
    "canonical_symbol",
    "compact",
    "from_ccxt",
    "is_canonical",
    "market_of",
    "source_kind",
    "source_rank",
    "source_rank_expr",
]
