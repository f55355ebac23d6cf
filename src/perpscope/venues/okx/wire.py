"""OKX v5 wire formats → records (pure). Perpetual swaps (``BTC-USDT-SWAP``), spot for spot candles.

Sizes
-----
OKX sizes swaps in **contracts**. One contract is ``ctVal × ctMult`` units of ``ctValCcy`` (from
``/api/v5/public/instruments``): linear swaps (``BTC-USDT-SWAP``, ``ctValCcy`` = BTC) hold base units,
so ``base = contracts × ctVal × ctMult``; inverse swaps (``BTC-USD-SWAP``, ``ctValCcy`` = USD) hold USD,
so ``base = contracts × ctVal × ctMult / price``. Every contract size is converted here, with the
instrument's specification (:class:`OkxInstrument`); a size whose instrument is unknown is an error,
never a silent 1:1.

Payloads
--------
- ``liquidation-orders`` websocket channel (``instType`` SWAP: every swap): ``data[].details[]`` with
  ``side`` (the liquidation **order** side), ``posSide`` (``long``/``short`` in hedge mode, ``net``
  otherwise), ``bkPx`` (bankruptcy price), ``sz`` (contracts), ``ts``. A sell order closes a long:
  ``side = sell`` ⇒ a **long** was liquidated. OKX: "This data doesn't represent the total number of
  liquidations on OKX" — the feed is sampled.
- ``funding-rate`` channel / ``/api/v5/public/funding-rate``: the current rate for the settlement at
  ``fundingTime``; the interval is ``nextFundingTime − fundingTime`` (8 h by default, 1–6 h for some).
- ``mark-price`` channel: ``markPx`` per instrument (attached to sampled funding rows).
- ``open-interest`` channel / ``/api/v5/public/open-interest``: ``oi`` (contracts), ``oiCcy`` (coin),
  ``oiUsd``; one-sided.
- ``/api/v5/public/funding-rate-history``: settlements, newest first; ``realizedRate`` is what was
  paid (``fundingRate`` the prediction).
- ``/api/v5/market/history-candles`` (and ``candle<bar>`` channel): ``[ts, o, h, l, c, vol, volCcy,
  volCcyQuote, confirm]``; for swaps ``vol`` is contracts, ``volCcy`` base, ``volCcyQuote`` quote; for
  spot ``vol`` is base and ``volCcy`` quote. Only confirmed bars (``confirm = "1"``) are records.
  Mark and index candles are ``[ts, o, h, l, c, confirm]``.
- Rubik statistics (``/api/v5/rubik/stat/...``): open interest ``[ts, oi, oiCcy, oiUsd]``, long/short
  ratios ``[ts, ratio]``, taker volume ``[ts, sellVol, buyVol]`` (asked for in coin, ``unit=0``).

References
----------
https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments
https://www.okx.com/docs-v5/en/#public-data-websocket-liquidation-orders-channel
https://www.okx.com/docs-v5/en/#public-data-websocket-funding-rate-channel
https://www.okx.com/docs-v5/en/#public-data-rest-api-get-funding-rate-history
https://www.okx.com/docs-v5/en/#public-data-rest-api-get-open-interest
https://www.okx.com/docs-v5/en/#trading-statistics-rest-api-get-contract-open-interest-history
https://www.okx.com/docs-v5/en/#trading-statistics-rest-api-get-contract-long-short-ratio
https://www.okx.com/docs-v5/en/#trading-statistics-rest-api-get-contract-taker-volume
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
import polars as pl

from perpscope.core.time import SECOND_MS
from perpscope.records import (
    CANDLES,
    FUNDING,
    LIQUIDATIONS,
    OPEN_INTEREST,
    Candle,
    Funding,
    Liquidation,
    OpenInterest,
    canonical_symbol,
)
from perpscope.venues import payloads
from perpscope.venues.payloads import QUOTES, Row, Series, Settlement, WireError

VENUE = "okx"


@dataclass(frozen=True, slots=True)
class OkxInstrument:
    """What converting an instrument's contracts needs (from ``/api/v5/public/instruments``)."""

    inst_id: str
    base: str
    quote: str
    market: str  # perp | spot
    ct_val: float
    ct_mult: float
    inverse: bool  # ctValCcy is the quote (USD): a contract is worth ct_val × ct_mult USD
    canonical: str

    def base_qty(self, contracts: float, price: float | None = None) -> float:
        """Contracts → base units (inverse contracts need the price)."""
        if self.market == "spot":
            return contracts
        units = contracts * self.ct_val * self.ct_mult
        if not self.inverse:
            return units
        if not price:
            raise ValueError(f"{self.inst_id}: an inverse contract size needs a price to convert to base")
        return units / price

    @property
    def series(self) -> Series:
        return Series(VENUE, self.inst_id, self.canonical, self.market)  # type: ignore[arg-type]


def inst_id(symbol: str) -> str:
    """A user's symbol → OKX swap ``instId``: ``BTC-USDT-SWAP`` stays, ``BTCUSDT`` → ``BTC-USDT-SWAP``.

    Raises
    ------
    ValueError
        A compact symbol without a known quote (USDT, USDC, USD).
    """
    s = symbol.strip().upper()
    if "-" in s:
        return s
    for q in QUOTES:
        if s.endswith(q) and len(s) > len(q):
            return f"{s[: -len(q)]}-{q}-SWAP"
    raise ValueError(f"expected an OKX instrument such as BTC-USDT-SWAP (or BTCUSDT), got {symbol!r}")


def parse_inst_id(inst: str) -> tuple[str, str, str]:
    """``BTC-USDT-SWAP`` → ``("BTC", "USDT", "perp")``; ``BTC-USDT`` → spot."""
    parts = inst.upper().split("-")
    if len(parts) == 3 and parts[2] == "SWAP":
        return parts[0], parts[1], "perp"
    if len(parts) == 2:
        return parts[0], parts[1], "spot"
    raise ValueError(f"expected an OKX swap (BTC-USDT-SWAP) or spot (BTC-USDT) instId, got {inst!r}")


def spot_instrument(inst: str) -> OkxInstrument:
    base, quote, _ = parse_inst_id(inst)
    return OkxInstrument(inst, base, quote, "spot", 1.0, 1.0, False, canonical_symbol(base, quote, "spot"))


def envelope_data(obj: Any) -> Any:
    """``data`` of a v5 envelope; a non-zero ``code`` is an error naming OKX's message."""
    if not isinstance(obj, dict) or "data" not in obj:
        raise WireError(f"expected an OKX v5 envelope with 'data', got {str(obj)[:120]!r}")
    if str(obj.get("code", "0")) != "0":
        raise WireError(f"OKX answered code {obj.get('code')}: {obj.get('msg')}")
    return obj["data"]


def _f(x: Any) -> float:
    return float(x)


# REST-only payloads as typed structs (field names as OKX spells them; numbers arrive as strings, and
# "" stands for "not given", so the optional ones stay text until read). Rows shared with the websocket
# pushes (funding-rate, open-interest, candles) are read by the functions both paths use, below.


class _Instrument(msgspec.Struct, rename="camel"):
    inst_id: str
    inst_type: str | None = None
    ct_type: str | None = None
    ct_val_ccy: str | None = None
    ct_val: str | float | None = None  # contract size ("" for spot)
    ct_mult: str | float | None = None


class _FundingHistoryRow(msgspec.Struct, rename="camel"):
    funding_time: int
    funding_rate: str | float | None = None  # the rate announced
    realized_rate: str | float | None = None  # the rate paid ("" before settlement)


# Websocket pushes (``{"arg": {...}, "data": [...]}``) and the REST rows of the same shape, as typed
# structs: a row that does not fit raises WireError naming the field's path (``$[0].markPx``).


class _Arg(msgspec.Struct, rename="camel"):
    """A push's ``arg``: the channel and, for per-instrument channels, the ``instId``."""

    channel: str = ""
    inst_id: str | None = None


class LiquidationDetail(msgspec.Struct, rename="camel"):
    """One ``details`` entry of ``liquidation-orders``: the liquidation **order** side, ``posSide``
    (``long``/``short`` in hedge mode, ``net`` otherwise), bankruptcy price, size in contracts, ms."""

    side: str
    bk_px: float
    sz: float
    ts: int
    pos_side: str | None = None


class _LiquidationPush(msgspec.Struct, rename="camel"):
    inst_id: str
    details: list[Any] | None = None  # each read as a LiquidationDetail on its own: one bad, others kept


class _MarkPrice(msgspec.Struct, rename="camel"):
    inst_id: str
    mark_px: float


class FundingRateRow(msgspec.Struct, rename="camel"):
    """A ``funding-rate`` push or ``/public/funding-rate`` row: the current rate (fraction per
    interval) at ``ts``, for the settlement at ``fundingTime``; the next one at ``nextFundingTime``
    (both ms, kept as sent: OKX may leave them empty)."""

    inst_id: str
    ts: int
    funding_rate: float
    funding_time: int | str | None = None
    next_funding_time: int | str | None = None


class OpenInterestRow(msgspec.Struct, rename="camel"):
    """An ``open-interest`` push or ``/public/open-interest`` row: ``oi`` in contracts, ``oiCcy`` in
    coin, ``oiUsd`` in USD (the last two "" when not given)."""

    inst_id: str
    ts: int
    oi: float
    oi_ccy: str | float | None = None
    oi_usd: str | float | None = None


def _swap_instrument(r: _Instrument) -> OkxInstrument:
    base, quote, market = parse_inst_id(r.inst_id)
    inverse = r.ct_type == "inverse" or (r.ct_val_ccy if r.ct_val_ccy is not None else base).upper() != base
    if r.ct_val is None:
        raise KeyError("ctVal")
    ct_val, ct_mult = _f(r.ct_val), _f(r.ct_mult or 1)
    return OkxInstrument(
        r.inst_id, base, quote, market, ct_val, ct_mult, inverse, canonical_symbol(base, quote, market)
    )


def parse_instruments(obj: Any) -> dict[str, OkxInstrument]:
    """``/api/v5/public/instruments?instType=SWAP`` → ``instId`` → :class:`OkxInstrument`."""
    out: dict[str, OkxInstrument] = {}
    for i, r in enumerate(payloads.typed(envelope_data(obj), list[_Instrument], "instruments")):
        try:
            out[r.inst_id] = spot_instrument(r.inst_id) if r.inst_type == "SPOT" else _swap_instrument(r)
        except (KeyError, ValueError) as exc:
            raise WireError(f"instrument {i}: {exc!r} in {r!r}") from exc
    return out


def _inst(instruments: Mapping[str, OkxInstrument], inst: str) -> OkxInstrument:
    spec = instruments.get(inst)
    if spec is None:
        if inst.count("-") == 1:
            return spot_instrument(inst)
        raise ValueError(f"{inst}: contract size unknown (not in /api/v5/public/instruments)")
    return spec


# -- websocket -------------------------------------------------------------------------------------
def liquidation(inst: OkxInstrument, d: LiquidationDetail) -> Liquidation:
    """One ``details`` entry of ``liquidation-orders`` → a liquidation of the position's side.

    The order side is authoritative (a sell order closes a long); in hedge mode ``posSide`` must agree.
    """
    pos = payloads.liquidated_side(d.side, longs="sell", shorts="buy")  # order side: a sell closes a long
    if d.pos_side in ("long", "short") and d.pos_side != pos:
        raise ValueError(f"posSide {d.pos_side!r} contradicts order side {d.side!r}")
    qty = inst.base_qty(d.sz, d.bk_px)
    return payloads.liquidation(inst.series, ts_ms=d.ts, side=pos, price=d.bk_px, qty_base=qty)


def _candle_row(inst: OkxInstrument, r: list[Any], interval_ms: int, price_type: str) -> Candle | None:
    """One candle array → a closed :class:`Candle`, or None while the bar is still open."""
    vb: float | None
    vq: float | None
    if price_type == "trade":
        if len(r) >= 9 and str(r[8]) != "1":
            return None
        if inst.market == "spot":
            vb, vq = _f(r[5]), _f(r[6])
        else:
            vb, vq = _f(r[6]), _f(r[7])
    else:
        if len(r) >= 6 and str(r[5]) != "1":
            return None
        vb = vq = None
    return payloads.candle(
        inst.series,
        interval_ms,
        int(r[0]),
        r[1:5],
        price_type=price_type,  # type: ignore[arg-type]
        volume_base=vb,
        volume_quote=vq,
    )


class StreamParser(payloads.FrameCounter):
    """OKX public/business websocket frames → records; control answers and bad frames are counted.

    Parameters
    ----------
    instruments : mapping
        Contract specifications (``instId`` → :class:`OkxInstrument`); refreshed by the feed.
    kline_ms : int
        Bar length of the subscribed ``candle<bar>`` channel.
    sample_ms : int
        Keep one funding / open-interest row per instrument per this many ms (OKX pushes funding every
        30–90 s and open interest every few seconds).
    """

    def __init__(
        self,
        instruments: Mapping[str, OkxInstrument] | None = None,
        kline_ms: int = 60 * SECOND_MS,
        sample_ms: int = 60 * SECOND_MS,
    ) -> None:
        self.instruments: dict[str, OkxInstrument] = dict(instruments or {})
        self.kline_ms = kline_ms
        self.sample_ms = sample_ms
        self.mark: dict[str, float] = {}
        self._last: dict[tuple[str, str], int] = {}
        super().__init__()
        self.errors: list[str] = []

    def parse(self, raw: str | bytes) -> list[Row]:
        if raw == "pong" or raw == b"pong":
            self.control += 1
            return []
        msg = self.decode(raw)
        if msg is None:
            return []
        if "event" in msg:
            self.control += 1  # subscribe / error answers
            if msg.get("event") == "error":
                self.errors = [*self.errors[-9:], f"{msg.get('code')}: {msg.get('msg')}"]
            return []
        arg, data = msg.get("arg"), msg.get("data")
        if not isinstance(arg, dict) or not isinstance(data, list):
            self.malformed += 1
            return []
        try:
            a = payloads.typed(arg, _Arg, "push arg")
            ch = a.channel
            if ch == "liquidation-orders":
                return self._liquidations(data)
            if ch == "funding-rate":
                rows = payloads.typed(data, list[FundingRateRow], ch)
                return [r for d in rows if (r := self._funding(d)) is not None]
            if ch == "mark-price":
                for m in payloads.typed(data, list[_MarkPrice], ch):
                    self.mark[m.inst_id] = m.mark_px
                return []
            if ch == "open-interest":
                return [
                    r
                    for d in payloads.typed(data, list[OpenInterestRow], ch)
                    if (r := self._oi(d)) is not None
                ]
            if ch.startswith("candle"):
                if a.inst_id is None:
                    raise WireError(f"{ch}: the push's arg has no instId")
                return self._candles(_inst(self.instruments, a.inst_id), data)
        except (TypeError, ValueError, IndexError) as exc:  # WireError is a ValueError
            self.reject(exc)
            return []
        self.unknown += 1
        return []

    def _candles(self, inst: OkxInstrument, data: list[Any]) -> list[Row]:
        out: list[Row] = []
        for r in payloads.typed(data, list[list[str]], "candle"):
            c = _candle_row(inst, r, self.kline_ms, "trade")
            if c is not None:
                out.append(("klines", CANDLES, c))
        return out

    def _liquidations(self, data: list[Any]) -> list[Row]:
        # an entry or a detail that does not fit is counted and skipped; the frame's others are kept
        out: list[Row] = []
        for i, e in enumerate(data):
            try:
                push = payloads.typed(e, _LiquidationPush, f"liquidation-orders data[{i}]")
                inst = _inst(self.instruments, push.inst_id)
            except ValueError as exc:
                self.reject(exc)
                continue
            for j, raw in enumerate(push.details or []):
                try:
                    d = payloads.typed(raw, LiquidationDetail, f"liquidation-orders data[{i}].details[{j}]")
                    out.append(("liquidations", LIQUIDATIONS, liquidation(inst, d)))
                except ValueError as exc:
                    self.reject(exc)
        return out

    def _sampled(self, kind: str, inst: str, ts: int) -> bool:
        bucket = ts - ts % self.sample_ms if self.sample_ms > 0 else ts
        if self._last.get((kind, inst)) == bucket:
            return False
        self._last[(kind, inst)] = bucket
        return True

    def _funding(self, d: FundingRateRow) -> Row | None:
        inst = _inst(self.instruments, d.inst_id)
        if not self._sampled("funding", inst.inst_id, d.ts):
            return None
        return ("funding", FUNDING, funding_now(d, inst, self.mark.get(inst.inst_id)))

    def _oi(self, d: OpenInterestRow) -> Row | None:
        inst = _inst(self.instruments, d.inst_id)
        if not self._sampled("oi", inst.inst_id, d.ts):
            return None
        return ("open_interest", OPEN_INTEREST, open_interest_now(d, inst))


def subscribe_message(args: list[dict[str, str]]) -> str:
    """``{"op": "subscribe", "args": [...]}``."""
    return orjson.dumps({"op": "subscribe", "args": args}).decode()


# -- REST and shared -------------------------------------------------------------------------------
def current_funding_interval_ms(d: FundingRateRow) -> int:
    """``nextFundingTime − fundingTime`` of a ``funding-rate`` row when both are given and a whole number
    of hours (:func:`~perpscope.venues.payloads.funding_interval_ms`), else 8 h."""
    try:
        step: int | None = int(d.next_funding_time) - int(d.funding_time)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # not given, or "" (OKX leaves a field empty rather than out)
        step = None
    return payloads.funding_interval_ms(step, None)


def parse_funding_interval(obj: Any) -> int | None:
    """``/api/v5/public/funding-rate`` → the instrument's current funding interval, ms (None: no row)."""
    rows = payloads.typed(envelope_data(obj), list[FundingRateRow], "funding-rate")
    return current_funding_interval_ms(rows[0]) if rows else None


def funding_now(d: FundingRateRow, inst: OkxInstrument, mark: float | None = None) -> Funding:
    """A ``funding-rate`` push or ``/public/funding-rate`` row → a *sampled* funding row at ``ts``."""
    iv = current_funding_interval_ms(d)
    return payloads.record(
        Funding, inst.series, ts_ms=d.ts, rate=d.funding_rate, interval_ms=iv, mark_price=mark, kind="sampled"
    )


def open_interest_now(d: OpenInterestRow, inst: OkxInstrument) -> OpenInterest:
    """An ``open-interest`` push or REST row → a snapshot (``interval_ms`` 0) in base units and USD.

    Base units are the contracts converted with the instrument's contract size; OKX's own ``oiCcy``
    is used only for an inverse contract (whose conversion needs a price).
    """
    usd = _f(d.oi_usd) if d.oi_usd not in (None, "") else None
    base = _f(d.oi_ccy) if inst.inverse else inst.base_qty(d.oi)
    return payloads.record(OpenInterest, inst.series, interval_ms=0, ts_ms=d.ts, oi_base=base, oi_usd=usd)


def parse_open_interest(obj: Any, instruments: Mapping[str, OkxInstrument]) -> pl.DataFrame:
    """``/api/v5/public/open-interest`` → open-interest snapshots."""
    out = []
    for i, d in enumerate(payloads.typed(envelope_data(obj), list[OpenInterestRow], "open-interest")):
        try:
            out.append(open_interest_now(d, _inst(instruments, d.inst_id)))
        except (TypeError, ValueError) as exc:
            raise WireError(f"open-interest row {i}: {exc!r} in {d!r}") from exc
    return OPEN_INTEREST.from_records(out)


def parse_funding_history(obj: Any, inst: OkxInstrument, interval_ms: int | None = None) -> pl.DataFrame:
    """``/api/v5/public/funding-rate-history`` → settled funding (``realizedRate``), oldest first.

    The interval of each settlement is the spacing to the previous one where the page has it, else
    ``interval_ms`` (from ``/public/funding-rate``), else 8 h.
    """
    settlements = []
    for i, r in enumerate(payloads.typed(envelope_data(obj), list[_FundingHistoryRow], "funding history")):
        rate = r.realized_rate if r.realized_rate not in (None, "") else r.funding_rate
        try:
            settlements.append(Settlement(inst.series, r.funding_time, _f(rate)))
        except (TypeError, ValueError) as exc:
            raise WireError(f"funding history row {i}: no realizedRate or fundingRate in {r!r}") from exc
    return FUNDING.from_records(payloads.settled_funding(settlements, lambda _: interval_ms))


def parse_candles(obj: Any, inst: OkxInstrument, interval_ms: int, price_type: str = "trade") -> pl.DataFrame:
    """Candle arrays (newest first, as OKX sends them) → closed candles, oldest first."""
    out = []
    for i, r in enumerate(envelope_data(obj)):
        try:
            c = _candle_row(inst, r, interval_ms, price_type)
        except (IndexError, TypeError, ValueError) as exc:
            raise WireError(f"candle {i}: expected [ts, o, h, l, c, ...], got {r!r}") from exc
        if c is not None:
            out.append(c)
    return CANDLES.from_records(sorted(out, key=lambda c: c.ts_ms))
