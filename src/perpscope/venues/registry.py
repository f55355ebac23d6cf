"""Every importable file format, found by name or by sniffing a file's path and first line; and every
exchange venue (:func:`exchange_venues`) that ``backfill`` and ``collect`` can drive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perpscope.venues.base import FileFormat, first_line
from perpscope.venues.feeds import Capabilities


def all_formats() -> list[FileFormat]:
    """Built-in formats: Binance public archive first, then the CSV exports."""
    from perpscope.venues.archive import FORMATS as ARCHIVE
    from perpscope.venues.csv import FORMATS as CSV

    return [*ARCHIVE, *CSV]


def format_named(name: str, formats: list[FileFormat] | None = None) -> FileFormat:
    """The format called ``name``; ``KeyError`` listing the known names otherwise."""
    fmts = formats if formats is not None else all_formats()
    for f in fmts:
        if f.name == name:
            return f
    raise KeyError(f"unknown format {name!r}; known: {', '.join(f.name for f in fmts)}")


def sniff(path: Path, formats: list[FileFormat] | None = None) -> FileFormat | None:
    """The first format that recognizes ``path``, or None."""
    fmts = formats if formats is not None else all_formats()
    line = first_line(path)
    for f in fmts:
        if f.sniff(path, line):
            return f
    return None


# -- exchange venues (backfill and live capture) ----------------------------------------------------
@dataclass(frozen=True)
class LiveOptions:
    """Settings a live feed may use (each venue takes what applies to it).

    ``rest_url`` / ``ws_url`` override the venue's endpoints (tests point them at loopback servers).
    """

    rest_url: str | None = None
    ws_url: str | None = None
    kline_period: str = "1m"
    oi_poll_s: float = 60.0


@dataclass(frozen=True)
class ExchangeVenue:
    """An exchange perpscope can backfill from and collect live: its capabilities and constructors.

    Attributes
    ----------
    name : str
    capabilities : Capabilities
        The venue's one statement of what it serves: ``history`` is what ``backfill`` can page, ``live``
        what ``collect`` can capture (with the liquidation sampling).
    history_client : callable
        ``history_client(rest_url or None)`` → a :class:`~perpscope.ingest.backfill.HistorySource`.
    live_feeds : callable
        ``live_feeds(symbols, streams, LiveOptions)`` → the venue's live feeds (one per socket).
    default_history : str
        Streams ``backfill`` takes when none are named.
    """

    name: str
    capabilities: Capabilities
    history_client: Callable[[str | None], Any]
    live_feeds: Callable[[Sequence[str], Sequence[str], LiveOptions], list[Any]]
    default_history: str


def _binance() -> ExchangeVenue:
    from perpscope.venues.binance.client import (
        CAPABILITIES,
        FAPI_URL,
        SPOT_URL,
        WS_URL,
        BinanceClient,
        BinanceUrls,
    )
    from perpscope.venues.binance.live import BinanceLive

    def hist(url: str | None) -> Any:
        return BinanceClient(BinanceUrls(url, url, WS_URL) if url else BinanceUrls())

    def live(syms: Sequence[str], streams: Sequence[str], o: LiveOptions) -> list[Any]:
        urls = BinanceUrls(o.rest_url or FAPI_URL, o.rest_url or SPOT_URL, o.ws_url or WS_URL)
        return [
            BinanceLive(
                BinanceClient(urls), syms, streams, kline_period=o.kline_period, oi_poll_s=o.oi_poll_s
            )
        ]

    return ExchangeVenue(
        "binance",
        CAPABILITIES,
        hist,
        live,
        "funding,open_interest,ratio_global,ratio_top_accounts,ratio_top_positions,taker_volume",
    )


def _bybit() -> ExchangeVenue:
    from perpscope.venues.bybit.client import CAPABILITIES, REST_URL, BybitClient
    from perpscope.venues.bybit.live import WS_URL, BybitLive

    def live(syms: Sequence[str], streams: Sequence[str], o: LiveOptions) -> list[Any]:
        client = BybitClient(o.rest_url or REST_URL) if "open_interest" in streams else None
        return [BybitLive(syms, streams, ws_base=o.ws_url or WS_URL, client=client, oi_poll_s=o.oi_poll_s)]

    return ExchangeVenue(
        "bybit", CAPABILITIES, lambda url: BybitClient(url or REST_URL), live, "funding,open_interest"
    )


def _okx() -> ExchangeVenue:
    from perpscope.venues.okx.client import CAPABILITIES, REST_URL, WS_URL, OkxClient
    from perpscope.venues.okx.live import okx_feeds

    def live(syms: Sequence[str], streams: Sequence[str], o: LiveOptions) -> list[Any]:
        return list(
            okx_feeds(
                syms, streams, rest_url=o.rest_url, ws_base=o.ws_url or WS_URL, kline_period=o.kline_period
            )
        )

    return ExchangeVenue(
        "okx",
        CAPABILITIES,
        lambda url: OkxClient(url or REST_URL),
        live,
        "funding,open_interest,ratio_global,taker_volume",
    )


def _hyperliquid() -> ExchangeVenue:
    from perpscope.venues.hyperliquid.client import API_URL, CAPABILITIES, HyperliquidClient
    from perpscope.venues.hyperliquid.live import HyperliquidLive

    def live(syms: Sequence[str], streams: Sequence[str], o: LiveOptions) -> list[Any]:
        return [HyperliquidLive(HyperliquidClient(o.rest_url or API_URL), syms, streams, poll_s=o.oi_poll_s)]

    return ExchangeVenue(
        "hyperliquid",
        CAPABILITIES,
        lambda url: HyperliquidClient(url or API_URL),
        live,
        "funding",
    )


def exchange_venues() -> dict[str, ExchangeVenue]:
    """Every exchange venue by name (built on each call: no module-level state)."""
    return {v.name: v for v in (_binance(), _bybit(), _okx(), _hyperliquid())}
