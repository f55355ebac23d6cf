"""Bybit live feed: the all-liquidations topic of the public linear (USDT/USDC) socket, and open interest
polled over REST (``/v5/market/tickers``: Bybit has no open-interest stream).

Bybit's ``allLiquidation`` topic publishes **every** liquidation (pushed every 500 ms), unlike Binance's
sampled ``!forceOrder@arr``. Bybit drops a public connection that sends nothing for a while: the client
sends ``{"op": "ping"}`` every 20 s (:meth:`BybitLive.heartbeat`). Topics are subscribed after each
connect (:meth:`BybitLive.subscribe_messages`), at most 10 per message.
"""

from __future__ import annotations

from collections.abc import Sequence

from perpscope.core.time import HOUR_MS
from perpscope.records import OPEN_INTEREST
from perpscope.venues.bybit.client import CAPABILITIES, BybitClient
from perpscope.venues.bybit.wire import StreamParser, subscribe_message
from perpscope.venues.feeds import NoGapFill, Poll

WS_URL = "wss://stream.bybit.com"
#: Topics per subscribe request (Bybit limits the args of one request).
TOPICS_PER_MESSAGE = 10


class BybitLive(NoGapFill):
    """Live Bybit linear feed for ``symbols``: liquidations (websocket) and open interest (REST poll).

    Parameters
    ----------
    symbols : sequence of str
    streams : sequence of str
        ``liquidations`` and/or ``open_interest``.
    ws_base : str
    client : BybitClient, optional
        REST client for the open-interest poll (required when ``open_interest`` is wanted).
    oi_poll_s : float
        Seconds between open-interest polls.
    """

    venue = "bybit"
    capabilities = CAPABILITIES
    kline_ms = HOUR_MS  # unused: no kline stream here

    def __init__(
        self,
        symbols: Sequence[str],
        streams: Sequence[str] = ("liquidations",),
        ws_base: str = WS_URL,
        *,
        client: BybitClient | None = None,
        oi_poll_s: float = 60.0,
    ):
        unknown = [s for s in streams if s not in CAPABILITIES.live]
        if unknown:
            raise ValueError(f"unknown Bybit live streams {unknown}; known: {', '.join(CAPABILITIES.live)}")
        if not symbols:
            raise ValueError("Bybit has no all-market liquidation topic: name the symbols")
        if "open_interest" in streams and client is None:
            raise ValueError("Bybit open interest is polled over REST: pass a BybitClient")
        self.symbols = [s.strip().upper() for s in symbols]
        self.streams = list(streams)
        self.ws_base = ws_base
        self.client = client
        self.oi_poll_s = oi_poll_s
        self.parser = StreamParser()

    def ws_url(self) -> str | None:
        if "liquidations" not in self.streams:
            return None
        return f"{self.ws_base.rstrip('/')}/v5/public/linear"

    def subscribe_messages(self) -> list[str]:
        syms = self.symbols
        return [
            subscribe_message(syms[i : i + TOPICS_PER_MESSAGE])
            for i in range(0, len(syms), TOPICS_PER_MESSAGE)
        ]

    def heartbeat(self) -> tuple[float, str] | None:
        return 20.0, '{"op": "ping"}'

    def polls(self) -> list[Poll]:
        if "open_interest" not in self.streams or self.client is None:
            return []
        c = self.client
        return [
            Poll("open_interest", OPEN_INTEREST, self.oi_poll_s, lambda s=s: c.open_interest_now(s))  # type: ignore[misc]
            for s in self.symbols
        ]

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
