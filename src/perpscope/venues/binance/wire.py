"""Binance wire formats → records. Pure: decoded JSON (or raw websocket text) in, records out.

REST (USDⓈ-M unless said; every number arrives as a string except instants):

- klines ``[open_time, open, high, low, close, volume, close_time, quote_volume, trades,
  taker_buy_base, taker_buy_quote, ignore]`` from ``/fapi/v1/klines`` (trade), ``/fapi/v1/markPriceKlines``,
  ``/fapi/v1/indexPriceKlines``, ``/fapi/v1/premiumIndexKlines`` and spot ``/api/v3/klines``. Mark, index
  and premium bars carry no volume (their volume fields are zeros): those come out as nulls.
- ``/fapi/v1/fundingRate``: ``{"symbol", "fundingRate", "fundingTime", "markPrice"}`` — a settlement;
  ``fundingTime`` is stamped a few ms after the hour, so it is rounded to the second.
- ``/fapi/v1/fundingInfo``: symbols whose cap/floor/interval were adjusted (others are 8 h, ±cap).
- ``/fapi/v1/openInterest``: ``{"openInterest", "symbol", "time"}`` (base units, one-sided).
- ``/futures/data/openInterestHist``: ``{"symbol", "sumOpenInterest", "sumOpenInterestValue",
  "timestamp"}`` — base units and USDT value of one-sided open interest.
- ``/futures/data/{globalLongShortAccountRatio, topLongShortAccountRatio, topLongShortPositionRatio}``:
  ``{"symbol", "longShortRatio", "longAccount", "shortAccount", "timestamp"}`` (shares are fractions).
- ``/futures/data/takerlongshortRatio``: ``{"buySellRatio", "buyVol", "sellVol", "timestamp"}``,
  volumes in base units.

Websocket (``wss://fstream.binance.com``; combined streams wrap events as ``{"stream", "data"}``):

- ``forceOrder`` (``!forceOrder@arr``: every symbol; at most one event per symbol per second): the
  order's side ``S`` is the liquidation order's side, so SELL ⇒ a **long** position was liquidated.
  Price = average price ``ap`` when positive, else ``p``; quantity = filled ``z``.
- ``aggTrade``: ``m`` true ⇒ the buyer was the maker ⇒ the taker sold.
- ``markPriceUpdate``: mark price and the current (predicted) funding rate → a *sampled* funding row.
- ``kline``: only closed bars (``k.x`` true) are records.

References
----------
https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api
https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, cast

import msgspec
import polars as pl

from perpscope.core.time import HOUR_MS, SECOND_MS
from perpscope.records import (
    CANDLES,
    FUNDING,
    LIQUIDATIONS,
    LONG_SHORT_RATIOS,
    OPEN_INTEREST,
    TAKER_VOLUME,
    TRADES,
    Candle,
    Funding,
    Liquidation,
    LongShortRatio,
    OpenInterest,
    TakerVolume,
    Trade,
)
from perpscope.records.derivatives import RatioKind
from perpscope.records.market import PriceType, TakerSide
from perpscope.venues import payloads
from perpscope.venues.binance.symbols import BinanceSymbol, Market, parse_symbol
from perpscope.venues.payloads import DEFAULT_FUNDING_INTERVAL_MS, Row, Series, Settlement, WireError

VENUE = "binance"
PRICE_TYPES = ("trade", "mark", "index", "premium")
RATIO_KINDS = ("global_accounts", "top_accounts", "top_positions")


@lru_cache(maxsize=4096)
def symbol_info(symbol: str, market: Market = "perp") -> BinanceSymbol:
    """Cached :func:`parse_symbol` (the live path sees the same few hundred symbols again and again)."""
    return parse_symbol(symbol, market)


def _f(x: Any) -> float:
    return float(x)


def _series(sym: BinanceSymbol) -> Series:
    return Series(VENUE, sym.symbol, sym.canonical, sym.market)


# -- REST ------------------------------------------------------------------------------------------
# The REST payloads as typed structs (field names as Binance spells them; numbers sent as strings are
# converted by payloads.typed, which names the first field that does not fit).


class _Kline(msgspec.Struct, array_like=True):
    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time: int
    quote_volume: float
    trades: int
    taker_buy_base: float
    taker_buy_quote: float


class _FundingRate(msgspec.Struct, rename="camel"):
    symbol: str
    funding_time: int
    funding_rate: float
    mark_price: str | float | None = None  # "" in the oldest rows


class _FundingInfo(msgspec.Struct, rename="camel"):
    symbol: str
    adjusted_funding_rate_cap: float
    adjusted_funding_rate_floor: float
    funding_interval_hours: int


class _OpenInterestNow(msgspec.Struct, rename="camel"):
    symbol: str
    open_interest: float
    time: int


class _OpenInterestHist(msgspec.Struct, rename="camel"):
    symbol: str
    sum_open_interest: float
    sum_open_interest_value: float
    timestamp: int


class _Ratio(msgspec.Struct, rename="camel"):
    long_short_ratio: float
    long_account: float
    short_account: float
    timestamp: int


class _TakerRatio(msgspec.Struct, rename="camel"):
    buy_sell_ratio: float
    buy_vol: float
    sell_vol: float
    timestamp: int


def _payload_series(symbol: str, what: str) -> Series:
    """The series of a symbol named inside a payload: one Binance does not list is a :class:`WireError`."""
    try:
        return _series(symbol_info(symbol))
    except ValueError as exc:
        raise WireError(f"{what}: {exc}") from exc


def parse_klines(
    rows: Sequence[Sequence[Any]],
    symbol: str,
    interval_ms: int,
    market: Market = "perp",
    price_type: str = "trade",
) -> pl.DataFrame:
    """Kline arrays → a :data:`~perpscope.records.CANDLES` frame (one bar per row, open time ``ts_ms``)."""
    if price_type not in PRICE_TYPES:
        raise ValueError(f"price_type must be one of {PRICE_TYPES}, got {price_type!r}")
    series = _series(symbol_info(symbol, market))
    bars = payloads.typed(rows, list[_Kline], "klines [open_time, open, high, low, close, ...]")
    trade = price_type == "trade"  # mark, index and premium bars carry zeros where volumes would be
    return CANDLES.from_records(
        [
            payloads.candle(
                series,
                interval_ms,
                k.open_time,
                (k.open, k.high, k.low, k.close),
                price_type=cast(PriceType, price_type),
                volume_base=k.volume if trade else None,
                volume_quote=k.quote_volume if trade else None,
                trades=k.trades if trade else None,
                taker_buy_base=k.taker_buy_base if trade else None,
                taker_buy_quote=k.taker_buy_quote if trade else None,
            )
            for k in bars
        ]
    )


def parse_funding_history(
    rows: Sequence[dict[str, Any]], interval_ms_by_symbol: dict[str, int] | None = None
) -> pl.DataFrame:
    """``/fapi/v1/fundingRate`` rows → settled :data:`~perpscope.records.FUNDING` rows.

    ``interval_ms_by_symbol`` comes from :func:`parse_funding_info`; symbols absent from it pay every
    8 h. Notes: the interval in force can change over a symbol's history; where rows are at least two
    settlements long the spacing to the previous settlement is used instead (what was actually paid for).
    """
    known = interval_ms_by_symbol or {}
    settlements = [
        Settlement(
            _payload_series(r.symbol, "fundingRate"),
            r.funding_time,
            r.funding_rate,
            _f(r.mark_price) if r.mark_price not in (None, "") else None,
        )
        for r in payloads.typed(rows, list[_FundingRate], "fundingRate")
    ]
    return FUNDING.from_records(payloads.settled_funding(settlements, known.get))


def parse_funding_info(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """``/fapi/v1/fundingInfo`` → frame ``symbol, cap, floor, interval_ms`` (only adjusted symbols)."""
    info = payloads.typed(rows, list[_FundingInfo], "fundingInfo")
    return pl.DataFrame(
        {
            "symbol": [r.symbol for r in info],
            "cap": [r.adjusted_funding_rate_cap for r in info],
            "floor": [r.adjusted_funding_rate_floor for r in info],
            "interval_ms": [r.funding_interval_hours * HOUR_MS for r in info],
        },
        schema={"symbol": pl.String, "cap": pl.Float64, "floor": pl.Float64, "interval_ms": pl.Int64},
    )


def parse_open_interest_now(obj: dict[str, Any], mark_price: float | None = None) -> OpenInterest:
    """``/fapi/v1/openInterest`` → one snapshot (``interval_ms`` 0); USD value when a price is given."""
    r = payloads.typed(obj, _OpenInterestNow, "openInterest")
    usd = r.open_interest * mark_price if mark_price else None  # coins × mark price
    return payloads.record(
        OpenInterest,
        _payload_series(r.symbol, "openInterest"),
        interval_ms=0,
        ts_ms=r.time,
        oi_base=r.open_interest,
        oi_usd=usd,
    )


def parse_open_interest_hist(rows: Sequence[dict[str, Any]], period_ms: int) -> pl.DataFrame:
    """``/futures/data/openInterestHist`` → :data:`~perpscope.records.OPEN_INTEREST` (base and USD).

    ``timestamp`` is the instant the value was taken, which is what ``ts_ms`` means for snapshots.
    Binance gives both units.
    """
    return OPEN_INTEREST.from_records(
        [
            payloads.record(
                OpenInterest,
                _payload_series(r.symbol, "openInterestHist"),
                interval_ms=period_ms,
                ts_ms=r.timestamp,
                oi_base=r.sum_open_interest,
                oi_usd=r.sum_open_interest_value,
            )
            for r in payloads.typed(rows, list[_OpenInterestHist], "openInterestHist")
        ]
    )


def parse_ratios(rows: Sequence[dict[str, Any]], symbol: str, kind: str, period_ms: int) -> pl.DataFrame:
    """A long/short-ratio endpoint → :data:`~perpscope.records.LONG_SHORT_RATIOS` of ``kind``."""
    if kind not in RATIO_KINDS:
        raise ValueError(f"kind must be one of {RATIO_KINDS}, got {kind!r}")
    series = _series(symbol_info(symbol))
    return LONG_SHORT_RATIOS.from_records(
        [
            payloads.record(
                LongShortRatio,
                series,
                kind=cast(RatioKind, kind),
                interval_ms=period_ms,
                ts_ms=r.timestamp,
                ratio=r.long_short_ratio,
                long_share=r.long_account,
                short_share=r.short_account,
            )
            for r in payloads.typed(rows, list[_Ratio], kind)
        ]
    )


def parse_taker_volume(
    rows: Sequence[dict[str, Any]], symbol: str, period_ms: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``/futures/data/takerlongshortRatio`` → (taker volume bars, ``taker_volume`` ratios).

    The endpoint stamps each value at the end of its period (the value is known then); the taker volume
    *bar* is filed at its open time ``timestamp − period`` and the ratio at ``timestamp``.
    """
    series = _series(symbol_info(symbol))
    typed = payloads.typed(rows, list[_TakerRatio], "takerlongshortRatio")
    vols = [
        payloads.record(
            TakerVolume,
            series,
            interval_ms=period_ms,
            ts_ms=r.timestamp - period_ms,
            buy_base=r.buy_vol,
            sell_base=r.sell_vol,
        )
        for r in typed
    ]
    ratios = [
        payloads.record(
            LongShortRatio,
            series,
            kind="taker_volume",
            interval_ms=period_ms,
            ts_ms=r.timestamp,
            ratio=r.buy_sell_ratio,
        )
        for r in typed
    ]
    return TAKER_VOLUME.from_records(vols), LONG_SHORT_RATIOS.from_records(ratios)


def parse_agg_trades(rows: Sequence[dict[str, Any]], symbol: str, market: Market = "perp") -> pl.DataFrame:
    """REST ``/fapi/v1/aggTrades`` rows (``a, p, q, f, l, T, m``) → :data:`~perpscope.records.TRADES`."""
    sym = symbol_info(symbol, market)
    try:
        out = [_trade(sym, r) for r in rows]
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"aggTrades: {exc!r}") from exc
    return TRADES.from_records(out)


# -- websocket -------------------------------------------------------------------------------------
class StreamParser(payloads.FrameCounter):
    """Parses Binance websocket text frames into records; counts what it could not use.

    Parameters
    ----------
    market : {"perp", "spot"}
        What undecorated symbols in trade/kline events are (the futures socket: perp).
    funding_interval_ms : dict, optional
        Funding interval per symbol (from ``fundingInfo``); others are 8 h.
    funding_sample_ms : int
        Keep one sampled funding row per symbol per this many ms from the mark-price stream (which
        ticks every second): the rate moves slowly and a row per second would be mostly repeats.
    """

    def __init__(
        self,
        market: Market = "perp",
        funding_interval_ms: dict[str, int] | None = None,
        funding_sample_ms: int = 60 * SECOND_MS,
    ) -> None:
        self.market = market
        self.funding_interval_ms = dict(funding_interval_ms or {})
        self.funding_sample_ms = funding_sample_ms
        self._last_funding: dict[str, int] = {}
        super().__init__()

    def parse(self, raw: str | bytes) -> list[Row]:
        """Records in one frame; ``[]`` for control answers, unknown events and malformed frames."""
        msg = self.decode(raw)
        if msg is None:
            return []
        data = msg.get("data", msg) if "stream" in msg else msg
        if isinstance(data, list):  # e.g. !markPrice@arr
            out: list[Row] = []
            for d in data:
                out.extend(self._event(d))
            return out
        return self._event(data)

    def _event(self, d: Any) -> list[Row]:
        if not isinstance(d, dict):
            self.malformed += 1
            return []
        e = d.get("e")
        try:
            if e == "forceOrder":
                return [("liquidations", LIQUIDATIONS, force_order(d))]
            if e == "aggTrade":
                return [("trades", TRADES, agg_trade(d, self.market))]
            if e == "markPriceUpdate":
                row = self._funding(d)
                return [] if row is None else [("funding", FUNDING, row)]
            if e == "kline":
                c = kline_event(d, self.market)
                return [] if c is None else [("klines", CANDLES, c)]
        except (KeyError, TypeError, ValueError):
            self.malformed += 1
            return []
        if e is None and ("result" in d or "id" in d):
            self.control += 1  # {"result": null, "id": 1}: a subscription answer
        else:
            self.unknown += 1
        return []

    def _funding(self, d: dict[str, Any]) -> Funding | None:
        if d.get("r") in (None, ""):
            return None  # delivery contracts carry no funding rate
        ts = int(d["E"])
        s = d["s"]
        bucket = ts - ts % self.funding_sample_ms if self.funding_sample_ms > 0 else ts
        if self._last_funding.get(s) == bucket:
            return None
        self._last_funding[s] = bucket
        sym = symbol_info(s)
        interval = self.funding_interval_ms.get(sym.symbol, DEFAULT_FUNDING_INTERVAL_MS)
        rate, mark = _f(d["r"]), _f(d["p"])
        return payloads.record(
            Funding,
            _series(sym),
            ts_ms=bucket,
            rate=rate,
            interval_ms=interval,
            mark_price=mark,
            kind="sampled",
        )


def force_order(d: dict[str, Any]) -> Liquidation:
    """One ``forceOrder`` event → a :class:`~perpscope.records.Liquidation` (position side)."""
    o = d["o"]
    sym = symbol_info(o["s"])
    pos = payloads.liquidated_side(o["S"], longs="SELL", shorts="BUY")  # order side: a SELL closes a long
    ap = o.get("ap")
    px = _f(ap) if ap not in (None, "", "0", "0.00") and _f(ap) > 0 else _f(o["p"])
    qty = _f(o["z"]) if _f(o.get("z", 0)) > 0 else _f(o["q"])
    return payloads.liquidation(_series(sym), ts_ms=int(o["T"]), side=pos, price=px, qty_base=qty)


def _trade(sym: BinanceSymbol, d: dict[str, Any]) -> Trade:
    """An aggregated trade (REST row or ``aggTrade`` event: ``T, a, p, q, m``); ``m`` true ⇒ the buyer
    was the maker ⇒ the taker sold."""
    side: TakerSide = "sell" if d["m"] else "buy"
    return payloads.record(
        Trade,
        _series(sym),
        ts_ms=int(d["T"]),
        trade_id=int(d["a"]),
        price=_f(d["p"]),
        qty_base=_f(d["q"]),
        taker_side=side,
    )


def agg_trade(d: dict[str, Any], market: Market = "perp") -> Trade:
    """One ``aggTrade`` event → a :class:`~perpscope.records.Trade`."""
    return _trade(symbol_info(d["s"], market), d)


def kline_event(d: dict[str, Any], market: Market = "perp") -> Candle | None:
    """One ``kline`` event → a closed :class:`~perpscope.records.Candle`, or None while the bar is open."""
    k = d["k"]
    if not k.get("x"):
        return None
    sym = symbol_info(d["s"], market)
    t0, t1 = int(k["t"]), int(k["T"])
    return payloads.candle(
        _series(sym),
        t1 + 1 - t0,
        t0,
        (k["o"], k["h"], k["l"], k["c"]),
        volume_base=_f(k["v"]),
        volume_quote=_f(k["q"]),
        trades=int(k["n"]),
        taker_buy_base=_f(k["V"]),
        taker_buy_quote=_f(k["Q"]),
    )
