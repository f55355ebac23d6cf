"""Liquidation prices, exactly as the venues publish them, with versioned maintenance-margin brackets.

The bracket tables are data (``heatmap/brackets/*.toml``): each table carries the instant it came into
force, its source, and whether every tier could be sourced (``complete``). :func:`table_at` picks the
table in force at an instant; :func:`binance_liq_price` applies Binance's USDⓈ-M formula with the tier
the position's notional falls in *at the liquidation price* (Binance's own rule).

All prices in quote currency (USDT) per base unit, quantities in base units, money in USDT (≈ USD).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Literal

import polars as pl

from perpscope.core.errors import PerpscopeError
from perpscope.records import LEVERAGE_BRACKETS, LeverageBracket

Side = Literal["long", "short"]


class BracketError(PerpscopeError, ValueError):
    """No bracket table or tier covers what was asked."""


@dataclass(frozen=True, slots=True)
class BracketTable:
    """One version of a venue's maintenance-margin table for one symbol.

    ``complete`` is False when only some tiers could be sourced; lookups beyond the last tier then raise.
    """

    venue: str
    symbol: str
    canonical: str
    effective_from_ms: int
    complete: bool
    source: str
    tiers: tuple[LeverageBracket, ...]

    def tier_for(self, notional_usd: float) -> LeverageBracket:
        """The tier whose (floor, cap] holds ``notional_usd`` (the first tier also takes 0)."""
        for t in self.tiers:
            if notional_usd <= t.notional_cap_usd:
                return t
        if not self.complete:
            raise BracketError(
                f"{self.venue} {self.symbol} table from {_iso(self.effective_from_ms)} only holds tiers up "
                f"to {self.tiers[-1].notional_cap_usd:,.0f} USD (the rest could not be sourced); "
                f"asked for a notional of {notional_usd:,.0f} USD. Use a smaller position or an older table."
            )
        return self.tiers[-1]


def _iso(ms_: int) -> str:
    return datetime.fromtimestamp(ms_ / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _tiers(
    venue: str, symbol: str, canonical: str, eff: int, src: str, rows: list[list[float]]
) -> tuple[LeverageBracket, ...]:
    """Tiers with Binance's maintenance amount: cum_n = floor_n × (mmr_n − mmr_(n−1)) + cum_(n−1)."""
    out: list[LeverageBracket] = []
    cum, prev_mmr = 0.0, None
    for i, (floor, cap, lev, mmr) in enumerate(rows, start=1):
        if prev_mmr is not None:
            cum = round(cum + floor * (mmr - prev_mmr), 6)
        prev_mmr = mmr
        out.append(
            LeverageBracket(
                venue, symbol, canonical, eff, i, float(floor), float(cap), float(lev), mmr, cum, src
            )
        )
    return tuple(out)


def load_brackets(name: str = "binance_btcusdt") -> list[BracketTable]:
    """Every version of a shipped bracket table (``heatmap/brackets/<name>.toml``), oldest first."""
    try:
        text = resources.files("perpscope.heatmap").joinpath("brackets", f"{name}.toml").read_text("utf-8")
    except FileNotFoundError as e:
        raise BracketError(f"no bracket table {name!r} ships with perpscope (see heatmap/brackets/)") from e
    doc = tomllib.loads(text)
    tables = []
    for t in doc["table"]:
        eff = _ms(t["effective_from"])
        tiers = _tiers(doc["venue"], doc["symbol"], doc["canonical"], eff, t["source"], t["tiers"])
        tables.append(
            BracketTable(
                doc["venue"], doc["symbol"], doc["canonical"], eff, bool(t["complete"]), t["source"], tiers
            )
        )
    return sorted(tables, key=lambda x: x.effective_from_ms)


def brackets_frame(tables: list[BracketTable]) -> pl.DataFrame:
    """Tables as rows of the ``leverage_brackets`` record (one row per tier)."""
    return LEVERAGE_BRACKETS.from_records(t for table in tables for t in table.tiers)


def table_at(tables: list[BracketTable], ts_ms: int) -> BracketTable:
    """The table in force at ``ts_ms``: the newest with ``effective_from_ms ≤ ts_ms``."""
    best = None
    for t in tables:
        if t.effective_from_ms <= ts_ms and (best is None or t.effective_from_ms >= best.effective_from_ms):
            best = t
    if best is None:
        first = min((t.effective_from_ms for t in tables), default=None)
        raise BracketError(
            f"no bracket table in force at {_iso(ts_ms)}; the oldest shipped one starts "
            f"{_iso(first) if first is not None else '(none shipped)'}"
        )
    return best


def _sign(side: Side) -> int:
    if side not in ("long", "short"):
        raise ValueError(f"side must be 'long' or 'short', got {side!r}")
    return 1 if side == "long" else -1


def binance_liq_price_at(
    side: Side,
    qty_base: float,
    entry: float,
    wallet_balance: float,
    mmr: float,
    maint_amount: float,
    *,
    other_maint_margin: float = 0.0,
    other_upnl: float = 0.0,
) -> float:
    """Binance USDⓈ-M liquidation price for one position with a given tier (one-way mode).

    Parameters
    ----------
    side : {"long", "short"}
    qty_base : float
        Position size, base units (absolute).
    entry : float
        Entry price, USDT.
    wallet_balance : float
        Isolated: the position's isolated wallet balance (its margin). Cross: the cross wallet balance.
    mmr, maint_amount : float
        Maintenance margin rate (fraction) and maintenance amount (USDT, "cum") of the tier.
    other_maint_margin, other_upnl : float
        Cross margin only: maintenance margin and unrealized PnL of all *other* positions (0 isolated).

    Returns
    -------
    float
        Liquidation (mark) price, USDT; may be ≤ 0 (Binance then shows "--").

    Notes
    -----
    ``LP = (WB − TMM₁ + UPNL₁ + cum − s·Q·EP) / (Q·MMR − s·Q)``, s = +1 long, −1 short.

    References
    ----------
    Binance FAQ, "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts" (2020-08-14),
    https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93
    """
    s = _sign(side)
    q = abs(qty_base)
    num = wallet_balance - other_maint_margin + other_upnl + maint_amount - s * q * entry
    return num / (q * mmr - s * q)


def binance_liq_price(
    side: Side,
    qty_base: float,
    entry: float,
    wallet_balance: float,
    table: BracketTable,
    *,
    other_maint_margin: float = 0.0,
    other_upnl: float = 0.0,
) -> float:
    """Binance USDⓈ-M liquidation price with the tier that holds the position's notional *at* that price.

    Binance: "if your position (calculated at the liquidation price) and the current position (calculated
    at the opening price) are of different levels, ... substitute the maintenance margin rate and amount of
    the position level [at the liquidation price] to recalculate". Each tier is tried in order; the first
    whose (floor, cap] holds ``qty × LP`` is used. See :func:`binance_liq_price_at` for the formula.
    """
    q = abs(qty_base)
    lp = float("nan")
    for t in table.tiers:
        lp = binance_liq_price_at(
            side,
            q,
            entry,
            wallet_balance,
            t.mmr,
            t.maint_amount_usd,
            other_maint_margin=other_maint_margin,
            other_upnl=other_upnl,
        )
        if q * max(lp, 0.0) <= t.notional_cap_usd:
            return lp
    table.tier_for(q * max(lp, 0.0))  # raises when the table is incomplete
    return lp


def binance_isolated_factor(side: Side, leverage: float, mmr: float, cum_over_notional: float = 0.0) -> float:
    """Liquidation price / entry for an isolated position opened at ``leverage`` (margin = notional / L).

    Notes
    -----
    From the exact formula with WB = Q·EP/L: long ``(1 − 1/L − c) / (1 − MMR)``, short
    ``(1 + 1/L + c) / (1 + MMR)``, with c = maintenance amount / notional. Compare the simple rule
    :func:`simple_liq_price` ``EP·(1 ∓ 1/L ± MMR)``, which ignores that the maintenance margin shrinks with
    the price: 100,000 long at 10x, MMR 0.4% → exact 90,361.45, simple 90,400.
    """
    if side == "long":
        return (1.0 - 1.0 / leverage - cum_over_notional) / (1.0 - mmr)
    _sign(side)
    return (1.0 + 1.0 / leverage + cum_over_notional) / (1.0 + mmr)


def simple_liq_price(side: Side, entry: float, leverage: float, mmr: float) -> float:
    """The common approximation ``EP·(1 − 1/L + MMR)`` (long) / ``EP·(1 + 1/L − MMR)`` (short)."""
    s = _sign(side)
    return entry * (1.0 - s / leverage + s * mmr)


def bybit_liq_price(
    side: Side,
    entry: float,
    qty_base: float,
    leverage: float,
    mmr: float,
    mm_deduction: float = 0.0,
    extra_margin: float = 0.0,
) -> float:
    """Bybit USDT contract, isolated margin.

    Notes
    -----
    ``LP = EP ∓ (IM − MM)/Q ∓ extra/Q`` with IM = Q·EP/L and MM = Q·EP·MMR − deduction.

    References
    ----------
    Bybit Help Center, "Liquidation Price (USDT Contract)", isolated margin mode and its worked examples.
    """
    s = _sign(side)
    q = abs(qty_base)
    im = q * entry / leverage
    mm = q * entry * mmr - mm_deduction
    return entry - s * (im - mm) / q - s * extra_margin / q


def okx_liq_price(
    side: Side, entry: float, qty_base: float, margin: float, mmr: float, taker_fee: float = 0.0
) -> float:
    """OKX USDT-margined swap, isolated: the price where the margin ratio reaches 100%.

    Notes
    -----
    OKX defines the isolated margin ratio as ``(margin + uPnL) / (Q·P·(MMR + fee))``; setting it to 1
    gives long ``(Q·EP − margin) / (Q·(1 − MMR − fee))`` and short ``(Q·EP + margin) / (Q·(1 + MMR + fee))``.
    Derived from OKX's published margin-ratio definition (no worked example was found to test against).
    """
    s = _sign(side)
    q = abs(qty_base)
    return (q * entry - s * margin) / (q * (1.0 - s * (mmr + taker_fee)))


def hyperliquid_liq_price(
    side: Side, entry: float, qty_base: float, margin: float, max_leverage: float
) -> float:
    """Hyperliquid perp: ``price − side·margin_available/size/(1 − l·side)``, l = 1/maintenance leverage.

    Parameters
    ----------
    margin : float
        Isolated margin of the position (cross: the account value), USDC. ``margin_available`` is this
        minus the maintenance margin at entry, ``Q·EP·l``.

    Notes
    -----
    Maintenance margin is half the initial margin at max leverage, so l = 1 / (2·max leverage). The
    formula makes equity equal the maintenance margin at the liquidation price.

    References
    ----------
    Hyperliquid docs, "Liquidations", https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations
    """
    s = _sign(side)
    q = abs(qty_base)
    m = 1.0 / (2.0 * max_leverage)
    available = margin - q * entry * m
    return entry - s * available / q / (1.0 - m * s)
