"""OKX v5 REST history for backfill, snapshots for live polls and gap fills (perpetual swaps).

Every page is a time window ``(before, after)`` of exactly ``page_limit`` periods: OKX's ``after``
returns records *earlier* than a timestamp and ``before`` records *newer* than one, both exclusive, so
a window is ``before = start − 1, after = window_end + 1``; the next page starts where the window
ended (the same scheme as Bybit). Rubik statistics take ``begin``/``end`` the same way.

Contract sizes come from ``/api/v5/public/instruments`` (fetched once per client and cached).
"""

from __future__ import annotations

import asyncio

import polars as pl

from perpscope.core.time import DAY_MS, HOUR_MS
from perpscope.records.derivatives import FUNDING, LIQUIDATIONS, LONG_SHORT_RATIOS, OPEN_INTEREST, RatioKind
from perpscope.records.market import CANDLES, TAKER_VOLUME
from perpscope.venues.feeds import Capabilities, HistorySpec, LiveSpec, Page
from perpscope.venues.http import JsonClient, OncePerKey, TokenBucket
from perpscope.venues.okx import stats, wire
from perpscope.venues.okx.wire import OkxInstrument
from perpscope.venues.payloads import DEFAULT_FUNDING_INTERVAL_MS

REST_URL = "https://www.okx.com"
WS_URL = "wss://ws.okx.com:8443"
#: our period → OKX bar (UTC-aligned for 6 h and longer: OKX's plain 6H/1D bars open at UTC+8)
_BARS = {
    "1m": "1m",
    "3m": "3m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "1h": "1H",
    "2h": "2H",
    "4h": "4H",
    "6h": "6Hutc",
    "12h": "12Hutc",
    "1d": "1Dutc",
    "1w": "1Wutc",
}
_STAT = {k: v for k, v in _BARS.items() if k in ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")}
_STAT_NOTE = "OKX keeps the latest 1,440 points per period (5 days at 5m), since early 2024"
_CANDLE_KIND = {
    "klines": ("/api/v5/market/history-candles", "trade"),
    "spot_klines": ("/api/v5/market/history-candles", "trade"),
    "mark_klines": ("/api/v5/market/history-mark-price-candles", "mark"),
    "index_klines": ("/api/v5/market/history-index-candles", "index"),
}
_RATIO: dict[str, tuple[str, RatioKind]] = {
    "ratio_global": ("/api/v5/rubik/stat/contracts/long-short-account-ratio-contract", "global_accounts"),
    "ratio_top_accounts": (
        "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract-top-trader",
        "top_accounts",
    ),
    "ratio_top_positions": (
        "/api/v5/rubik/stat/contracts/long-short-position-ratio-contract-top-trader",
        "top_positions",
    ),
}


def _h(name: str, record: object, endpoint: str, limit: int, weight: int, **kw: object) -> HistorySpec:
    return HistorySpec(name, record, endpoint, limit, weight, **kw)  # type: ignore[arg-type]


HISTORY: dict[str, HistorySpec] = {
    s.name: s
    for s in (
        *(
            _h(n, CANDLES, ep, 100, 1, periods=tuple(_BARS), default_period="1m")
            for n, (ep, _) in _CANDLE_KIND.items()
        ),
        _h("funding", FUNDING, "/api/v5/public/funding-rate-history", 400, 2, max_age_ms=90 * DAY_MS),
        _h(
            "open_interest",
            OPEN_INTEREST,
            "/api/v5/rubik/stat/contracts/open-interest-history",
            100,
            2,
            periods=tuple(_STAT),
            default_period="5m",
            archive=_STAT_NOTE,
        ),
        *(
            _h(
                n,
                LONG_SHORT_RATIOS,
                ep,
                100,
                4,
                periods=tuple(_STAT),
                default_period="5m",
                archive=_STAT_NOTE,
            )
            for n, (ep, _) in _RATIO.items()
        ),
        _h(
            "taker_volume",
            TAKER_VOLUME,
            "/api/v5/rubik/stat/taker-volume-contract",
            100,
            4,
            periods=tuple(_STAT),
            default_period="5m",
            archive=_STAT_NOTE,
        ),
    )
}

LIVE: dict[str, LiveSpec] = {
    s.name: s
    for s in (
        LiveSpec("liquidations", LIQUIDATIONS, "stream", "liquidation-orders instType=SWAP"),
        LiveSpec("funding", FUNDING, "stream", "funding-rate + mark-price <instId>"),
        LiveSpec("open_interest", OPEN_INTEREST, "stream", "open-interest <instId>"),
        LiveSpec(
            "klines", CANDLES, "stream", "candle<bar> <instId> (business socket)", gap_fill="history-candles"
        ),
    )
}

CAPABILITIES = Capabilities(
    venue="okx",
    # 20 weight per 2 s: candles (20 requests / 2 s) weigh 1, funding and open interest (10 / 2 s) 2,
    # long/short ratios and taker volume (5 / 2 s) 4 — each endpoint stays within its own limit
    rest_budget=(20.0, 2.0),
    history=HISTORY,
    live=LIVE,
    liquidations_complete=False,
    liquidation_note="sampled: at most one liquidation per instrument per second (OKX: the channel "
    "'doesn't represent the total number of liquidations')",
    ws_limits="send 'ping' when idle (< 30 s); 3 connection requests per second per IP; "
    "candle channels only on /ws/v5/business",
)


class OkxClient:
    """Async OKX REST client for history pages, snapshots and kline gap fills.

    Parameters
    ----------
    base_url : str
        REST root (tests: a loopback server).
    bucket : TokenBucket, optional
        Shared rate budget (default: 10 requests per 2 s).
    http : dict
        Extra :class:`~perpscope.venues.http.JsonClient` settings.
    """

    venue = "okx"
    capabilities = CAPABILITIES

    def __init__(self, base_url: str = REST_URL, bucket: TokenBucket | None = None, **http: object) -> None:
        self.bucket = bucket or TokenBucket(*CAPABILITIES.rest_budget)
        self.http = JsonClient(base_url, "okx", self.bucket, **http)  # type: ignore[arg-type]
        self._instruments: dict[str, OkxInstrument] | None = None
        self._funding_iv: OncePerKey[str, int] = OncePerKey()  # instId → funding interval, ms
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- reference ---------------------------------------------------------------------------------
    async def instruments(self, refresh: bool = False) -> dict[str, OkxInstrument]:
        """Swap contract specifications by ``instId`` (cached for the client's life)."""
        async with self._lock:  # concurrent jobs share one request
            if self._instruments is None or refresh:
                obj = await self.http.get("/api/v5/public/instruments", {"instType": "SWAP"})
                self._instruments = wire.parse_instruments(obj)
            return self._instruments

    async def instrument(self, symbol: str) -> OkxInstrument:
        inst = wire.inst_id(symbol)
        if inst.count("-") == 1:
            return wire.spot_instrument(inst)
        known = await self.instruments()
        if inst not in known:
            raise ValueError(f"OKX has no swap {inst!r} (instruments endpoint); e.g. BTC-USDT-SWAP")
        return known[inst]

    # -- snapshots ---------------------------------------------------------------------------------
    async def open_interest_now(self, symbol: str) -> pl.DataFrame:
        inst = await self.instrument(symbol)
        obj = await self.http.get(
            "/api/v5/public/open-interest", {"instType": "SWAP", "instId": inst.inst_id}, weight=2
        )
        return wire.parse_open_interest(obj, {inst.inst_id: inst})

    async def funding_interval_ms(self, inst: OkxInstrument) -> int:
        """The instrument's current funding interval (``/public/funding-rate``), cached."""

        async def fetch() -> int:
            obj = await self.http.get("/api/v5/public/funding-rate", {"instId": inst.inst_id}, weight=2)
            iv = wire.parse_funding_interval(obj)
            return DEFAULT_FUNDING_INTERVAL_MS if iv is None else iv

        return await self._funding_iv.get(inst.inst_id, fetch)

    # -- history -----------------------------------------------------------------------------------
    async def page(
        self, stream: str, symbol: str, start_ms: int, end_ms: int, period: str | None = None
    ) -> Page:
        """One window of ``stream`` for ``symbol`` from ``start_ms`` up to ``end_ms`` (exclusive)."""
        spec = HISTORY[stream]
        step, window_end, nxt = spec.page_bounds(start_ms, end_ms, period, HOUR_MS)  # funding: hours
        if stream == "spot_klines":
            inst = wire.spot_instrument(wire.inst_id(symbol).removesuffix("-SWAP"))
        else:
            inst = await self.instrument(symbol)
        p = period or spec.default_period
        if stream == "funding":
            q = {
                "instId": inst.inst_id,
                "before": start_ms - 1,
                "after": window_end + 1,
                "limit": spec.page_limit,
            }
            obj = await self.http.get(spec.endpoint, q, weight=spec.weight)
            df = wire.parse_funding_history(obj, inst, await self.funding_interval_ms(inst))
            return Page({FUNDING: df}, nxt, df.height)
        assert p is not None
        if stream in _CANDLE_KIND:
            ep, kind = _CANDLE_KIND[stream]
            iid = inst.inst_id.removesuffix("-SWAP") if stream == "index_klines" else inst.inst_id
            q = {
                "instId": iid,
                "bar": _BARS[p],
                "before": start_ms - 1,
                "after": window_end + 1,
                "limit": 100,
            }
            df = wire.parse_candles(await self.http.get(ep, q, weight=spec.weight), inst, step, kind)
            return Page({CANDLES: df}, nxt, df.height)
        q = {"instId": inst.inst_id, "period": _STAT[p], "begin": start_ms, "end": window_end}
        if stream == "open_interest":
            df = stats.parse_oi_history(await self.http.get(spec.endpoint, q, weight=spec.weight), inst, step)
            return Page({OPEN_INTEREST: df}, nxt, df.height)
        if stream == "taker_volume":
            vol, ratio = stats.parse_taker_volume(
                await self.http.get(spec.endpoint, q | {"unit": 0}, weight=spec.weight), inst, step
            )
            return Page({TAKER_VOLUME: vol, LONG_SHORT_RATIOS: ratio}, nxt, vol.height)
        ep, kind = _RATIO[stream]
        df = stats.parse_ratio(await self.http.get(ep, q, weight=spec.weight), inst, kind, step)
        return Page({LONG_SHORT_RATIOS: df}, nxt, df.height)
