"""Hyperliquid info-endpoint payloads → records (pure). Perpetuals, USDC-margined and USD-priced.

Every request is a ``POST /info`` with a JSON body naming its ``type``:

- ``metaAndAssetCtxs``: ``[{"universe": [{"name", "szDecimals", "maxLeverage", ...}]}, [ctx, ...]]``;
  ``ctx[i]`` belongs to ``universe[i]`` and carries ``funding`` (the current **hourly** rate),
  ``openInterest`` (in coin), ``markPx``, ``oraclePx``, ``premium``, ``midPx``. It has no timestamp: a
  snapshot is stamped with the local receipt time.
- ``fundingHistory`` (``coin``, ``startTime``, ``endTime``): ``[{"coin", "fundingRate", "premium",
  "time"}]``, oldest first, at most 500 per answer; Hyperliquid settles funding every hour, so each
  row is a rate per 1 h (``interval_ms`` = 1 h). ``time`` is stamped a few ms after the hour and is
  rounded to the second.
- ``candleSnapshot`` (``req: {coin, interval, startTime, endTime}``): ``[{"t", "T", "s", "i", "o",
  "h", "l", "c", "v", "n"}]``; ``v`` is base volume, ``n`` the number of trades; only the most recent
  5,000 candles of an interval are served.

Open interest: ``openInterest`` is in coin and is stored unchanged as **one-sided** base units (the
open size of one side; every position has a counterparty, so longs = shorts), valued at ``markPx``.
Checked 2026-11 (docs, issues, pages): Hyperliquid's own API pages list the field ("open interest") but
do not say one- or two-sided. Third-party readers of the same field treat it as one side and use it
unhalved: ccxt maps it to ``openInterestAmount`` as is (ccxt/ccxt#24577); a DefiLlama adapter
proposal computes USD open interest as ``openInterest × markPx`` (DefiLlama/dimension-adapters#5554)
under DefiLlama's single-sided convention (#8144, #9365); Bitquery describes Hyperliquid open interest
as "one side, base units". No source says two-sided, so nothing is halved. This is secondary evidence,
not the venue's word — still an open check against a cross-venue source (see docs/collectors.md).

Symbols: Hyperliquid names perpetuals by coin (``BTC``, ``kPEPE``); the canonical form is
``<COIN>-USDC-PERP`` (USDC is the collateral and settlement currency).

References
----------
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint
https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import polars as pl

from perpscope.core.time import HOUR_MS
from perpscope.records import canonical_symbol
from perpscope.records.derivatives import FUNDING, OPEN_INTEREST, Funding, OpenInterest
from perpscope.records.market import CANDLES
from perpscope.venues import payloads
from perpscope.venues.payloads import Series, WireError

VENUE = "hyperliquid"
QUOTE = "USDC"
#: Hyperliquid settles funding every hour.
FUNDING_INTERVAL_MS = HOUR_MS
_SUFFIXES = ("-USDC-PERP", "-USD-PERP", "USDC", "USDT", "USD")


def coin_of(symbol: str, universe: Iterable[str] = ()) -> str:
    """A user's symbol → Hyperliquid coin: ``BTC``, ``BTCUSDT``, ``BTC-USDC-PERP`` → ``BTC``.

    With ``universe`` (the coin names of ``meta``), the match is case-insensitive and returns the
    venue's spelling (``KPEPE`` → ``kPEPE``).

    Raises
    ------
    ValueError
        An empty name, or a coin not in ``universe`` when one is given.
    """
    s = symbol.strip()
    up = s.upper()
    for suf in _SUFFIXES:
        if up.endswith(suf) and len(up) > len(suf):
            s = s[: -len(suf)]
            break
    if not s:
        raise ValueError(f"expected a Hyperliquid coin such as BTC, got {symbol!r}")
    names = list(universe)
    if not names:
        return s
    by_upper = {n.upper(): n for n in names}
    if s.upper() not in by_upper:
        raise ValueError(f"Hyperliquid lists no perpetual {s!r} (e.g. {', '.join(names[:5])})")
    return by_upper[s.upper()]


def canonical(coin: str) -> str:
    return canonical_symbol(coin, QUOTE, "perp")


def _series(coin: str) -> Series:
    return Series(VENUE, coin, canonical(coin))


def _opt(x: Any) -> float | None:
    return None if x in (None, "") else float(x)


# The REST payloads as typed structs (field names as Hyperliquid spells them; numbers sent as strings are
# converted by payloads.typed, which names the first field that does not fit).


class _AssetCtx(msgspec.Struct, rename="camel"):
    funding: float  # the current hourly rate
    open_interest: float  # coins, one side
    mark_px: str | float | None = None


class _FundingRow(msgspec.Struct, rename="camel"):
    coin: str
    funding_rate: float
    time: int


class _Candle(msgspec.Struct):
    t: int  # open time, ms
    o: float
    h: float
    l: float  # noqa: E741 (Hyperliquid's name)
    c: float
    v: float  # base volume
    n: int | None = None  # trades


def parse_meta_and_ctxs(obj: Any) -> list[tuple[str, dict[str, Any]]]:
    """``metaAndAssetCtxs`` → ``[(coin, ctx), ...]`` in universe order.

    Raises
    ------
    WireError
        Not a ``[meta, ctxs]`` pair, or more contexts than coins.
    """
    if not (
        isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], dict) and isinstance(obj[1], list)
    ):
        raise WireError(f"expected [meta, assetCtxs] from metaAndAssetCtxs, got {str(obj)[:120]!r}")
    universe = obj[0].get("universe")
    if not isinstance(universe, list):
        raise WireError("metaAndAssetCtxs: meta has no 'universe' list")
    if len(obj[1]) > len(universe):
        raise WireError(f"metaAndAssetCtxs: {len(obj[1])} contexts for {len(universe)} coins")
    try:
        return [(str(universe[i]["name"]), ctx) for i, ctx in enumerate(obj[1])]
    except (KeyError, TypeError) as exc:
        raise WireError(f"metaAndAssetCtxs: {exc!r}") from exc


def snapshot_records(
    pairs: Sequence[tuple[str, dict[str, Any]]], ts_ms: int, coins: Iterable[str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Asset contexts at ``ts_ms`` → (sampled funding with mark price, open-interest snapshots).

    ``coins`` limits the output (None: every coin). Funding rows are ``kind = sampled`` (the current
    hourly rate, not a settlement); open interest is ``interval_ms`` 0 (an irregular snapshot).
    """
    want = None if coins is None else set(coins)
    fund, oi = [], []
    for coin, ctx in pairs:
        if want is not None and coin not in want:
            continue
        c = payloads.typed(ctx, _AssetCtx, f"asset context of {coin}")
        try:
            mark = _opt(c.mark_px)
        except ValueError as exc:
            raise WireError(f"asset context of {coin}: markPx {c.mark_px!r}") from exc
        series = _series(coin)
        fund.append(
            payloads.record(
                Funding,
                series,
                ts_ms=ts_ms,
                rate=c.funding,
                interval_ms=FUNDING_INTERVAL_MS,
                mark_price=mark,
                kind="sampled",
            )
        )
        usd = c.open_interest * mark if mark else None  # coins × mark price
        oi.append(
            payloads.record(
                OpenInterest, series, interval_ms=0, ts_ms=ts_ms, oi_base=c.open_interest, oi_usd=usd
            )
        )
    return FUNDING.from_records(fund), OPEN_INTEREST.from_records(oi)


def oracle_prices(pairs: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, float]:
    """``coin → oraclePx`` (no record type holds oracle prices yet; kept for callers that want them)."""
    return {c: float(x["oraclePx"]) for c, x in pairs if x.get("oraclePx") not in (None, "")}


def parse_funding_history(rows: Any, coin: str | None = None) -> pl.DataFrame:
    """``fundingHistory`` → hourly settled funding, oldest first (rate per 1 h)."""
    if not isinstance(rows, list):
        raise WireError(f"expected a list from fundingHistory, got {str(rows)[:120]!r}")
    out = [
        payloads.record(
            Funding,
            _series(coin or r.coin),
            ts_ms=payloads.round_to_second(r.time),
            rate=r.funding_rate,
            interval_ms=FUNDING_INTERVAL_MS,
        )
        for r in payloads.typed(rows, list[_FundingRow], "fundingHistory")
    ]
    return FUNDING.from_records(sorted(out, key=lambda f: f.ts_ms))


def parse_candles(rows: Any, coin: str, interval_ms: int) -> pl.DataFrame:
    """``candleSnapshot`` → trade candles (base volume and trade count; no quote volume is published)."""
    if not isinstance(rows, list):
        raise WireError(f"expected a list from candleSnapshot, got {str(rows)[:120]!r}")
    series = _series(coin)
    out = [
        payloads.candle(series, interval_ms, k.t, (k.o, k.h, k.l, k.c), volume_base=k.v, trades=k.n)
        for k in payloads.typed(rows, list[_Candle], "candleSnapshot")
    ]
    return CANDLES.from_records(sorted(out, key=lambda c: c.ts_ms))
