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


#: Venues whose liquidation formula :func:`liq_factor` knows.
VENUE_FORMULAS = ("binance", "bybit", "okx", "hyperliquid")

#: The table that stands in where a venue and symbol have no sourced table.
STAND_IN = ("binance", "BTCUSDT")


def _base_asset(symbol: str) -> str:
    """``BTC-USDT-PERP``, ``BTCUSDT``, ``BTC`` → ``BTC`` (quote and contract suffix dropped)."""
    s = symbol.upper().split("-")[0].split("_")[0].split("/")[0]
    for quote in ("USDT", "USDC", "USD", "BUSD"):
        if s.endswith(quote) and len(s) > len(quote):
            return s[: -len(quote)]
    return s


def _shipped() -> dict[tuple[str, str], str]:
    """(venue, base asset) → name of the shipped bracket file."""
    out = {}
    for f in resources.files("perpscope.heatmap").joinpath("brackets").iterdir():
        if f.name.endswith(".toml"):
            doc = tomllib.loads(f.read_text("utf-8"))
            out[(doc["venue"], _base_asset(doc["symbol"]))] = f.name.removesuffix(".toml")
    return out


@dataclass(frozen=True, slots=True)
class Brackets:
    """The maintenance tables a venue and symbol get, the formula that prices their positions, and
    whether the tables are the symbol's own or a stand-in.

    Attributes
    ----------
    venue, symbol : str
        What was asked.
    tables : list of BracketTable
        Every shipped version, oldest first (pick one with :func:`table_at`).
    formula : str
        The venue's liquidation formula (:func:`liq_factor`): binance, bybit, okx or hyperliquid.
    stand_in : bool
        True when no sourced table exists for (venue, symbol) and :data:`STAND_IN`'s stood in.
    """

    venue: str
    symbol: str
    tables: list[BracketTable]
    formula: str
    stand_in: bool

    def note(self, ts_ms: int | None = None) -> str:
        """One line for outputs: which table priced the positions, its source and date, or which stood in.

        With ``ts_ms``, names the version in force then (and says when the symbol's own table starts
        only later, so the stand-in was used).
        """
        t = self.tables[-1] if ts_ms is None else table_at(self.tables, ts_ms)
        own = f"{t.venue} {t.symbol} brackets of {_iso(t.effective_from_ms)[:10]}"
        part = "" if t.complete else f" (partial: to {t.tiers[-1].notional_cap_usd:,.0f} USD)"
        if self.stand_in:
            lead = f"no sourced {self.venue} {self.symbol} bracket table"
            return f"{lead}: {own}{part} stood in, {self.formula} rules"
        return f"{own}{part}, {self.formula} rules"


def brackets_for(symbol: str, venue: str = "binance", ts_ms: int | None = None) -> Brackets:
    """The bracket tables and formula for ``symbol`` on ``venue``; Binance BTCUSDT's where none is sourced.

    Parameters
    ----------
    symbol : str
        Canonical (``BTC-USDT-PERP``), the venue's (``BTCUSDT``, ``BTC``) or the base asset.
    venue : str
        binance, bybit, okx or hyperliquid (other venues get Binance's formula, named as a stand-in).
    ts_ms : int, optional
        The instant the tables must cover: a symbol whose own tables start only later gets the stand-in
        (its :meth:`Brackets.note` says so).

    Shipped tables (``heatmap/brackets/``): Binance BTCUSDT (2021-03-18 complete, 2025-08-19 partial),
    Binance XRPUSDT (2024-08-27, partial), Hyperliquid BTC (margin tiers listed 2026-09-27).
    """
    v = venue.lower()
    formula = v if v in VENUE_FORMULAS else "binance"
    name = _shipped().get((v, _base_asset(symbol)))
    if name is not None:
        tables = load_brackets(name)
        if ts_ms is None or tables[0].effective_from_ms <= ts_ms:
            return Brackets(v, symbol, tables, formula, v not in VENUE_FORMULAS)
    stand = load_brackets(f"{STAND_IN[0]}_{STAND_IN[1].lower()}")
    return Brackets(v, symbol, stand, formula, True)


def liq_factor(
    formula: str, side: Side, leverage: float, mmr: float, cum_over_notional: float = 0.0
) -> float:
    """Liquidation price / entry of an isolated position opened at ``leverage`` (margin = notional / L),
    by the venue's own formula, with the tier's rate ``mmr`` and maintenance amount / notional.

    Each is the venue's published formula with entry = 1 and size = 1: :func:`binance_isolated_factor`,
    :func:`bybit_liq_price` (deduction = maintenance amount), :func:`okx_liq_price` (no fee),
    :func:`hyperliquid_liq_price` (its maintenance rate from the table's tier, ``mmr = 1/(2·max lev)``).
    """
    if formula == "binance":
        return binance_isolated_factor(side, leverage, mmr, cum_over_notional)
    if formula == "bybit":
        return bybit_liq_price(side, 1.0, 1.0, leverage, mmr, cum_over_notional)
    if formula == "okx":
        return okx_liq_price(side, 1.0, 1.0, 1.0 / leverage, mmr)
    if formula == "hyperliquid":
        return hyperliquid_liq_price(side, 1.0, 1.0, 1.0 / leverage, 1.0 / (2.0 * mmr))
    raise ValueError(f"formula must be one of {VENUE_FORMULAS}, got {formula!r}")


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
