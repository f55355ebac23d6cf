"""OKX live feeds: the public socket (liquidations, funding + mark price, open interest) and the business
socket (candles), each subscribed after every connect, with OKX's text ``ping`` heartbeat.

OKX serves candle channels only on ``/ws/v5/business``, so ``klines`` run as a second feed (same venue
name) beside the public one: :func:`okx_feeds` builds what the wanted streams need. Open interest has a
stream here (``open-interest``, pushed every few seconds), so nothing is polled; funding and open
interest are kept as one row per instrument per ``sample_ms``.

After a reconnect the collector fills missing closed candles by REST (``history-candles``);
liquidations have no REST history, so their outage window is reported as an unfilled gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import polars as pl

from perpscope.core.time import SECOND_MS, interval_ms
from perpscope.records import CANDLES
from perpscope.venues.feeds import NoGapFill, Poll, rows_between
from perpscope.venues.okx.client import _BARS, CAPABILITIES, LIVE, WS_URL, OkxClient
from perpscope.venues.okx.wire import StreamParser, inst_id, subscribe_message

Socket = Literal["public", "business"]
#: Channel args per subscribe request (keeps each request small).
ARGS_PER_MESSAGE = 20
_PUBLIC = ("liquidations", "funding", "open_interest")


class OkxLive(NoGapFill):
    """One OKX websocket (``public`` or ``business``) for ``symbols`` and the wanted ``streams``.

    Parameters
    ----------
    client : OkxClient
        REST client for contract sizes (fetched before each connect) and candle gap fills.
    symbols : sequence of str
        ``BTC-USDT-SWAP`` or ``BTCUSDT``; the liquidation channel covers every swap regardless.
    streams : sequence of str
        ``liquidations``, ``funding``, ``open_interest`` (public socket), ``klines`` (business socket).
    """

    venue = "okx"
    capabilities = CAPABILITIES

    def __init__(
        self,
        client: OkxClient,
        symbols: Sequence[str],
        streams: Sequence[str],
        *,
        socket: Socket = "public",
        ws_base: str = WS_URL,
        kline_period: str = "1m",
        sample_ms: int = 60 * SECOND_MS,
    ) -> None:
        unknown = [s for s in streams if s not in LIVE]
        if unknown:
            raise ValueError(f"unknown OKX live streams {unknown}; known: {', '.join(LIVE)}")
        if kline_period not in _BARS:
            raise ValueError(f"OKX kline period must be one of {', '.join(_BARS)}, got {kline_period!r}")
        self.client = client
        self.insts = [inst_id(s) for s in symbols]
        self.socket = socket
        self.streams = [s for s in streams if (s == "klines") == (socket == "business")]
        self.ws_base = ws_base
        self.kline_period = kline_period
        self.kline_ms = interval_ms(kline_period)
        self.parser = StreamParser(kline_ms=self.kline_ms, sample_ms=sample_ms)

    def ws_url(self) -> str | None:
        return f"{self.ws_base.rstrip('/')}/ws/v5/{self.socket}" if self.streams else None

    def channel_args(self) -> list[dict[str, str]]:
        args: list[dict[str, str]] = []
        for st in self.streams:
            if st == "liquidations":
                args.append({"channel": "liquidation-orders", "instType": "SWAP"})
            elif st == "funding":
                args += [
                    {"channel": c, "instId": i} for i in self.insts for c in ("funding-rate", "mark-price")
                ]
            elif st == "open_interest":
                args += [{"channel": "open-interest", "instId": i} for i in self.insts]
            elif st == "klines":
                args += [{"channel": f"candle{_BARS[self.kline_period]}", "instId": i} for i in self.insts]
        return args

    def subscribe_messages(self) -> list[str]:
        args = self.channel_args()
        return [
            subscribe_message(args[i : i + ARGS_PER_MESSAGE]) for i in range(0, len(args), ARGS_PER_MESSAGE)
        ]

    def heartbeat(self) -> tuple[float, str] | None:
        """OKX closes a connection idle for 30 s: send ``ping`` every 20 s (it answers ``pong``)."""
        return 20.0, "ping"

    def polls(self) -> list[Poll]:
        return []

    async def prepare(self) -> None:
        """Contract sizes for every swap (the liquidation channel spans them all), once per connect."""
        self.parser.instruments = dict(await self.client.instruments(refresh=True))

    async def fill_klines(self, symbol: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        return await rows_between(self.client, "klines", CANDLES, symbol, start_ms, end_ms, self.kline_period)

    async def aclose(self) -> None:
        await self.client.aclose()


def okx_feeds(
    symbols: Sequence[str],
    streams: Sequence[str],
    *,
    rest_url: str | None = None,
    ws_base: str = WS_URL,
    kline_period: str = "1m",
) -> list[OkxLive]:
    """The OKX feeds the wanted streams need: public socket, business socket (klines), or both."""
    out: list[OkxLive] = []
    if any(s in _PUBLIC for s in streams):
        client = OkxClient(rest_url) if rest_url else OkxClient()
        out.append(
            OkxLive(client, symbols, streams, socket="public", ws_base=ws_base, kline_period=kline_period)
        )
    if "klines" in streams:
        client = OkxClient(rest_url) if rest_url else OkxClient()
        out.append(
            OkxLive(client, symbols, streams, socket="business", ws_base=ws_base, kline_period=kline_period)
        )
    return out
