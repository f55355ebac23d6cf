"""Binance symbols: ``BTCUSDT`` → base ``BTC``, quote ``USDT``; dated and COIN-M contracts.

Binance spells a pair as base and quote run together (``BTCUSDT``, ``ETHBTC``), so the split needs a
list of known quote assets, tried longest first (``ETHFDUSD`` is ETH/FDUSD, not ETHFD/USD). Dated
USDⓈ-M futures carry their expiry (``BTCUSDT_260327`` → market ``future``, expiry ``260327``);
COIN-M perpetuals end in ``_PERP`` (``BTCUSD_PERP``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from perpscope.records import canonical_symbol

Market = Literal["perp", "spot", "future"]

#: Quote assets Binance lists pairs in (stablecoins, fiat, and the crypto quotes). Tried longest first.
QUOTE_ASSETS: tuple[str, ...] = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "USDP",
    "USDS",
    "DAI",
    "USD",
    "EUR",
    "GBP",
    "TRY",
    "BRL",
    "JPY",
    "AUD",
    "BTC",
    "ETH",
    "BNB",
)
_BY_LENGTH = tuple(sorted(QUOTE_ASSETS, key=len, reverse=True))
_DATED = re.compile(r"^(?P<pair>[A-Z0-9]+)_(?P<expiry>\d{6})$")
_COINM_PERP = re.compile(r"^(?P<pair>[A-Z0-9]+)_PERP$")
_PAIR = re.compile(r"^[A-Z0-9]+$")


@dataclass(frozen=True, slots=True)
class BinanceSymbol:
    """A Binance symbol split into its parts.

    Attributes
    ----------
    symbol : str
        The venue's own spelling (``BTCUSDT``, ``BTCUSDT_260327``, ``BTCUSD_PERP``).
    base, quote : str
        Base and quote assets (``BTC``, ``USDT``).
    market : {"perp", "spot", "future"}
        Perpetual swap, spot pair, or dated future.
    expiry : str or None
        ``yymmdd`` of a dated future.
    canonical : str
        ``BASE-QUOTE-PERP`` / ``-SPOT`` / ``-<yymmdd>`` for joins across venues.
    """

    symbol: str
    base: str
    quote: str
    market: Market
    expiry: str | None
    canonical: str


def split_pair(pair: str) -> tuple[str, str]:
    """``"BTCUSDT"`` → ``("BTC", "USDT")`` by the longest known quote suffix.

    Raises
    ------
    ValueError
        When the pair does not end in a known quote asset (see :data:`QUOTE_ASSETS`).
    """
    p = pair.strip().upper()
    if not _PAIR.match(p):
        raise ValueError(f"expected a Binance pair such as BTCUSDT, got {pair!r}")
    for q in _BY_LENGTH:
        if p.endswith(q) and len(p) > len(q):
            return p[: -len(q)], q
    raise ValueError(
        f"cannot split {pair!r} into base and quote: no known quote asset ({', '.join(QUOTE_ASSETS)})"
    )


def parse_symbol(symbol: str, market: Market | None = None) -> BinanceSymbol:
    """Parse a Binance symbol.

    Parameters
    ----------
    symbol : str
        ``BTCUSDT``, ``BTCUSDT_260327`` (dated future), ``BTCUSD_PERP`` (COIN-M perpetual).
    market : {"perp", "spot", "future"}, optional
        What an undecorated pair such as ``BTCUSDT`` is (it names both the spot pair and the USDⓈ-M
        perpetual). Default ``"perp"``. Ignored for dated and ``_PERP`` symbols, whose spelling says it.

    Raises
    ------
    ValueError
        Unknown quote asset or malformed symbol.
    """
    s = symbol.strip().upper()
    expiry: str | None = None
    if m := _DATED.match(s):
        pair, expiry, mk = m.group("pair"), m.group("expiry"), "future"
    elif m := _COINM_PERP.match(s):
        pair, mk = m.group("pair"), "perp"
    else:
        pair, mk = s, (market or "perp")
        if mk == "future":
            raise ValueError(f"{symbol!r} has no expiry suffix (_yymmdd), so it is not a dated future")
    base, quote = split_pair(pair)
    market_: Market = mk  # type: ignore[assignment]
    return BinanceSymbol(s, base, quote, market_, expiry, canonical_symbol(base, quote, market_, expiry))
