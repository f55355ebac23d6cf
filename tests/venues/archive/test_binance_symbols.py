"""Binance symbol → base/quote/market/canonical (``perpscope.venues.binance.symbols``)."""

from __future__ import annotations

import pytest

from perpscope.venues.binance.symbols import parse_symbol, split_pair


@pytest.mark.parametrize(
    ("pair", "base", "quote"),
    [
        ("BTCUSDT", "BTC", "USDT"),
        ("ETHBTC", "ETH", "BTC"),
        ("ETHFDUSD", "ETH", "FDUSD"),  # longest quote first: not ETHFD/USD
        ("BTCTUSD", "BTC", "TUSD"),
        ("SOLUSDC", "SOL", "USDC"),
        ("BNBETH", "BNB", "ETH"),
        ("1000PEPEUSDT", "1000PEPE", "USDT"),
        ("BTCUSD", "BTC", "USD"),
        ("xrpusdt", "XRP", "USDT"),
    ],
)
def test_split_pair(pair: str, base: str, quote: str) -> None:
    assert split_pair(pair) == (base, quote)


def test_markets_and_canonical() -> None:
    assert parse_symbol("BTCUSDT").canonical == "BTC-USDT-PERP"
    assert parse_symbol("BTCUSDT", "spot").canonical == "BTC-USDT-SPOT"
    dated = parse_symbol("BTCUSDT_260327")
    assert (dated.market, dated.expiry, dated.canonical) == ("future", "260327", "BTC-USDT-260327")
    assert dated.symbol == "BTCUSDT_260327"
    coinm = parse_symbol("BTCUSD_PERP")
    assert (coinm.market, coinm.base, coinm.quote, coinm.canonical) == ("perp", "BTC", "USD", "BTC-USD-PERP")


@pytest.mark.parametrize("bad", ["BTCXYZ", "USDT", "BTC-USDT", ""])
def test_unknown_or_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_symbol(bad)


def test_future_needs_expiry() -> None:
    with pytest.raises(ValueError, match="expiry"):
        parse_symbol("BTCUSDT", "future")
