"""Binance I/O: paged REST history (USDⓈ-M and spot klines) and the websocket URL/subscription rules.

Everything that turns bytes into records lives in :mod:`perpscope.venues.binance.wire`; this module only
asks, pages and respects the rate budget (:class:`~perpscope.venues.http.JsonClient`).

Pages are requested as time windows of exactly ``page_limit`` periods (``startTime`` … ``endTime``), so
the next page starts where the window ended whatever the venue's default ordering is; funding history
is paged by ``startTime`` (settlements are irregular) and stops at an empty page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from perpscope.core.time import DAY_MS
from perpscope.records import RecordType
from perpscope.records.derivatives import FUNDING, LIQUIDATIONS, LONG_SHORT_RATIOS, OPEN_INTEREST
from perpscope.records.market import CANDLES, TAKER_VOLUME, TRADES
from perpscope.venues.binance import wire
from perpscope.venues.feeds import Capabilities, HistorySpec, LiveSpec, Page
from perpscope.venues.http import JsonClient, TokenBucket

FAPI_URL = "https://fapi.binance.com"
SPOT_URL = "https://api.binance.com"
WS_URL = "wss://fstream.binance.com"
ARCHIVE_HINT = (
    "Binance's public archive (data.binance.vision) is served worldwide: use `perpscope download` "
    "for klines, funding, metrics (open interest and ratios) and aggTrades."
)
_STATS_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
_KLINE_PERIODS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w")
_30D = 30 * DAY_MS
_METRICS = "perpscope download --dataset metrics (5-minute open interest and ratios since 2020-09)"


def _spec(name: str, record: RecordType, endpoint: str, limit: int, weight: int, **kw: object) -> HistorySpec:
    return HistorySpec(name, record, endpoint, limit, weight, **kw)  # type: ignore[arg-type]


def _futures_klines(name: str, endpoint: str, dataset: str) -> HistorySpec:
    """A USDⓈ-M kline endpoint (trade, mark, index or premium prices): 1,500 rows a page, weight 10."""
    return _spec(
        name,
        CANDLES,
        endpoint,
        1500,
        10,
        periods=_KLINE_PERIODS,
        default_period="1m",
        archive=f"perpscope download --dataset {dataset}",
    )


def _stats(name: str, record: RecordType, endpoint: str) -> HistorySpec:
    """A ``/futures/data`` statistics endpoint: 500 rows a page, the last 30 days only (older history is
    in the archive's daily metrics files)."""
    return _spec(
        name,
        record,
        endpoint,
        500,
        1,
        max_age_ms=_30D,
        periods=_STATS_PERIODS,
        default_period="5m",
        archive=_METRICS,
    )


HISTORY: dict[str, HistorySpec] = {
    s.name: s
    for s in (
        _futures_klines("klines", "/fapi/v1/klines", "klines"),
        _futures_klines("mark_klines", "/fapi/v1/markPriceKlines", "markPriceKlines"),
        _futures_klines("index_klines", "/fapi/v1/indexPriceKlines", "indexPriceKlines"),
        _futures_klines("premium_klines", "/fapi/v1/premiumIndexKlines", "premiumIndexKlines"),
        _spec(
            "spot_klines",
            CANDLES,
            "/api/v3/klines",
            1000,
            2,
            periods=_KLINE_PERIODS,
            default_period="1m",
            archive="perpscope download --market spot --dataset klines",
        ),
        _spec(
            "funding",
            FUNDING,
            "/fapi/v1/fundingRate",
            1000,
            1,
            archive="perpscope download --dataset fundingRate",
        ),
        _stats("open_interest", OPEN_INTEREST, "/futures/data/openInterestHist"),
        _stats("ratio_global", LONG_SHORT_RATIOS, "/futures/data/globalLongShortAccountRatio"),
        _stats("ratio_top_accounts", LONG_SHORT_RATIOS, "/futures/data/topLongShortAccountRatio"),
        _stats("ratio_top_positions", LONG_SHORT_RATIOS, "/futures/data/topLongShortPositionRatio"),
        _stats("taker_volume", TAKER_VOLUME, "/futures/data/takerlongshortRatio"),
    )
}
_RATIO_KIND = {
    "ratio_global": "global_accounts",
    "ratio_top_accounts": "top_accounts",
    "ratio_top_positions": "top_positions",
}
_PRICE_TYPE = {
    "klines": "trade",
    "spot_klines": "trade",
    "mark_klines": "mark",
    "index_klines": "index",
    "premium_klines": "premium",
}

LIVE: dict[str, LiveSpec] = {
    s.name: s
    for s in (
        LiveSpec("liquidations", LIQUIDATIONS, "stream", "!forceOrder@arr"),
        LiveSpec("trades", TRADES, "stream", "<symbol>@aggTrade", gap_fill="/fapi/v1/aggTrades fromId"),
        LiveSpec("funding", FUNDING, "stream", "<symbol>@markPrice@1s"),
        LiveSpec("klines", CANDLES, "stream", "<symbol>@kline_1m", gap_fill="/fapi/v1/klines"),
        LiveSpec("open_interest", OPEN_INTEREST, "poll", "/fapi/v1/openInterest", poll_s=60.0),
    )
}

CAPABILITIES = Capabilities(
    venue="binance",
    rest_budget=(2400.0, 60.0),
    history=HISTORY,
    live=LIVE,
    liquidations_complete=False,
    liquidation_note="at most one liquidation per symbol per second (the latest within each 1000 ms)",
    ws_limits="a connection lives 24 h; 10 incoming messages/s; up to 1024 streams per connection; "
    "the server pings every 3 minutes",
)


@dataclass(frozen=True)
class BinanceUrls:
    """Where to send requests (tests point all three at loopback servers)."""

    fapi: str = FAPI_URL
    spot: str = SPOT_URL
    ws: str = WS_URL


class BinanceClient:
    """Async Binance REST client for history pages, snapshots and gap fills.

    Parameters
    ----------
    urls : BinanceUrls
    bucket : TokenBucket, optional
        Shared rate budget (default: 2,400 weight per minute, Binance USDⓈ-M's IP limit).
    http : dict, optional
        Extra :class:`~perpscope.venues.http.JsonClient` settings (retries, backoff_s, sleep...).
    """

    venue = "binance"
    capabilities = CAPABILITIES

    def __init__(
        self, urls: BinanceUrls | None = None, bucket: TokenBucket | None = None, **http: object
    ) -> None:
        self.urls = urls or BinanceUrls()
        self.bucket = bucket or TokenBucket(*CAPABILITIES.rest_budget)
        self.fapi = JsonClient(self.urls.fapi, "binance", self.bucket, archive_hint=ARCHIVE_HINT, **http)  # type: ignore[arg-type]
        self.spot = JsonClient(self.urls.spot, "binance spot", self.bucket, archive_hint=ARCHIVE_HINT, **http)  # type: ignore[arg-type]
        self._funding_intervals: dict[str, int] | None = None

    async def aclose(self) -> None:
        await self.fapi.aclose()
        await self.spot.aclose()

    # -- snapshots ---------------------------------------------------------------------------------
    async def funding_info(self) -> pl.DataFrame:
        """Adjusted funding caps, floors and intervals (``/fapi/v1/fundingInfo``)."""
        return wire.parse_funding_info(await self.fapi.get("/fapi/v1/fundingInfo", weight=1))

    async def funding_intervals(self) -> dict[str, int]:
        """Funding interval (ms) per adjusted symbol; cached for the client's life."""
        if self._funding_intervals is None:
            info = await self.funding_info()
            self._funding_intervals = dict(zip(info["symbol"], info["interval_ms"], strict=True))
        return self._funding_intervals

    async def open_interest_now(self, symbol: str) -> pl.DataFrame:
        """Current one-sided open interest (``/fapi/v1/openInterest``), valued at the mark price."""
        oi = await self.fapi.get("/fapi/v1/openInterest", {"symbol": symbol}, weight=1)
        prem = await self.fapi.get("/fapi/v1/premiumIndex", {"symbol": symbol}, weight=1)
        mark = float(prem["markPrice"]) if isinstance(prem, dict) and prem.get("markPrice") else None
        return OPEN_INTEREST.from_records([wire.parse_open_interest_now(oi, mark)])

    # -- history -----------------------------------------------------------------------------------
    async def page(
        self, stream: str, symbol: str, start_ms: int, end_ms: int, period: str | None = None
    ) -> Page:
        """One page of ``stream`` for ``symbol`` from ``start_ms`` (inclusive) up to ``end_ms`` (exclusive).

        Raises
        ------
        KeyError
            Unknown stream.
        VenueError
            See :meth:`~perpscope.venues.http.JsonClient.get`.
        """
        spec = HISTORY[stream]
        if stream == "funding":
            return await self._funding_page(symbol, start_ms, end_ms)
        step, window_end, nxt = spec.page_bounds(start_ms, end_ms, period)
        params: dict[str, object] = {"startTime": start_ms, "endTime": window_end, "limit": spec.page_limit}
        if stream.endswith("klines"):
            key = "pair" if stream == "index_klines" else "symbol"
            params |= {key: symbol, "interval": period or spec.default_period}
            client = self.spot if stream == "spot_klines" else self.fapi
            rows = await client.get(spec.endpoint, params, weight=spec.weight)
            market = "spot" if stream == "spot_klines" else "perp"
            df = wire.parse_klines(rows, symbol, step, market, _PRICE_TYPE[stream])  # type: ignore[arg-type]
            df = df.filter(pl.col("ts_ms").dt.epoch("ms") < end_ms)
            return Page({CANDLES: df}, nxt, df.height)
        params |= {"symbol": symbol, "period": period or spec.default_period}
        rows = await self.fapi.get(spec.endpoint, params, weight=spec.weight)
        if stream == "open_interest":
            df = wire.parse_open_interest_hist(rows, step)
            return Page({OPEN_INTEREST: df}, nxt, df.height)
        if stream == "taker_volume":
            vol, ratio = wire.parse_taker_volume(rows, symbol, step)
            return Page({TAKER_VOLUME: vol, LONG_SHORT_RATIOS: ratio}, nxt, vol.height)
        df = wire.parse_ratios(rows, symbol, _RATIO_KIND[stream], step)
        return Page({LONG_SHORT_RATIOS: df}, nxt, df.height)

    async def _funding_page(self, symbol: str, start_ms: int, end_ms: int) -> Page:
        spec = HISTORY["funding"]
        params = {"symbol": symbol, "startTime": start_ms, "endTime": end_ms - 1, "limit": spec.page_limit}
        rows = await self.fapi.get(spec.endpoint, params, weight=spec.weight)
        if not rows:
            return Page({FUNDING: FUNDING.empty()}, None, 0)
        df = wire.parse_funding_history(rows, await self.funding_intervals())
        nxt = spec.after_last(max(int(r["fundingTime"]) for r in rows), len(rows), end_ms)
        return Page({FUNDING: df}, nxt, df.height)

    # -- gap fills ---------------------------------------------------------------------------------
    async def agg_trades_from(self, symbol: str, from_id: int, to_id: int) -> pl.DataFrame:
        """Aggregated trades ``from_id`` … ``to_id`` inclusive (``/fapi/v1/aggTrades?fromId=``)."""
        frames = []
        nxt = from_id
        while nxt <= to_id:
            rows = await self.fapi.get(
                "/fapi/v1/aggTrades", {"symbol": symbol, "fromId": nxt, "limit": 1000}, 20
            )
            if not rows:
                break
            df = wire.parse_agg_trades([r for r in rows if int(r["a"]) <= to_id], symbol)
            frames.append(df)
            last = max(int(r["a"]) for r in rows)
            if last < nxt:
                break
            nxt = last + 1
        return pl.concat(frames) if frames else TRADES.empty()


def ws_streams(symbols: Sequence[str], streams: Sequence[str], kline_period: str = "1m") -> list[str]:
    """Binance stream names for ``streams`` (live stream names) over ``symbols``."""
    out: list[str] = []
    for st in streams:
        if st == "liquidations":
            out.append("!forceOrder@arr")
        elif st == "trades":
            out += [f"{s.lower()}@aggTrade" for s in symbols]
        elif st == "funding":
            out += [f"{s.lower()}@markPrice@1s" for s in symbols]
        elif st == "klines":
            out += [f"{s.lower()}@kline_{kline_period}" for s in symbols]
        elif st == "open_interest":
            continue  # polled
        else:
            raise ValueError(f"unknown live stream {st!r}; known: {', '.join(LIVE)}")
    return out


def ws_url(base: str, streams: Sequence[str]) -> str:
    """Combined-stream URL (``/stream?streams=a/b/c``); events arrive as ``{"stream", "data"}``."""
    return f"{base.rstrip('/')}/stream?streams={'/'.join(streams)}"
