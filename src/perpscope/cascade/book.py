"""The state a cascade starts from: a book of isolated leveraged positions with their trigger prices.

A :class:`PositionBook` holds one row per position: side, size, entry, leverage, the **liquidation
price** (mark price at which the venue takes the position over) and the **bankruptcy price** (where its
margin is gone; the venue's liquidation order is judged against it — a fill better than bankruptcy leaves
margin for the insurance fund, a worse one costs the fund).

Two sources:

- :func:`book_from_table`: positions a user supplies (side, entry, size, leverage or margin), priced with
  Binance's exact isolated formula and the maintenance bracket in force
  (:func:`perpscope.heatmap.liqprice.binance_liq_price_at`, tier chosen at the liquidation price).
- :func:`book_from_heatmap`: the positions a heatmap model inferred. The model's book is USD by
  liquidation-price bin; it does not keep leverage. Because the heatmap kernel is linear in the leverage
  weights (a bin is cleared whole when touched, removal is proportional), running the model once per
  leverage of its mix with that leverage's weight gives the same total book split by leverage — and with
  the leverage known, entry and bankruptcy prices follow from the liquidation price.

Units: prices in quote currency (USDT ≈ USD), sizes in base units, notionals in USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from perpscope.core.errors import PerpscopeError
from perpscope.heatmap import DEFAULT_MODEL
from perpscope.heatmap.calibration import describe
from perpscope.heatmap.liqprice import (
    Brackets,
    BracketTable,
    binance_isolated_factor,
    binance_liq_price_at,
    brackets_for,
    liq_factor,
    table_at,
)
from perpscope.heatmap.models import Model, PriceGrid, default_grid, ensemble_members, leverage_runs


class CascadeInputError(PerpscopeError, ValueError):
    """Inputs a cascade cannot start from (says what was expected, what was found, what to do)."""


@dataclass(frozen=True, slots=True)
class PositionBook:
    """Isolated positions, one row per array index.

    Attributes
    ----------
    side : numpy.ndarray
        int8, +1 long, −1 short.
    qty_base : numpy.ndarray
        Size, base units (> 0).
    entry, leverage : numpy.ndarray
        Entry price (USDT) and initial leverage (notional at entry / margin).
    liq_price, bankrupt_price : numpy.ndarray
        Liquidation (mark) price and bankruptcy price, USDT.
    label : str
        Where the book came from (model description or "user table").
    """

    side: np.ndarray
    qty_base: np.ndarray
    entry: np.ndarray
    leverage: np.ndarray
    liq_price: np.ndarray
    bankrupt_price: np.ndarray
    label: str = ""

    def __len__(self) -> int:
        return int(self.side.shape[0])

    @property
    def notional_at_liq(self) -> np.ndarray:
        """USD each position is worth when its liquidation fires: qty × liquidation price."""
        return self.qty_base * self.liq_price

    def open_usd(self, side: int) -> float:
        """Total notional at liquidation price of one side (+1 long, −1 short), USD."""
        m = self.side == side
        return float(self.notional_at_liq[m].sum())

    def adl_rank(self, mark: float) -> np.ndarray:
        """Binance's auto-deleveraging ranking at ``mark``: PnL% × effective leverage when in profit,
        PnL% / effective leverage otherwise (higher = deleveraged first).

        References
        ----------
        Binance FAQ, "What is Auto-Deleveraging (ADL)?": ranking = PnL percentage × effective leverage
        (profitable) or PnL percentage / effective leverage (losing); effective leverage = |notional| /
        (margin + unrealized PnL).
        """
        margin = self.qty_base * self.entry / self.leverage
        upnl = self.side * self.qty_base * (mark - self.entry)
        pnl_pct = upnl / margin
        with np.errstate(divide="ignore", invalid="ignore"):
            eff = self.qty_base * mark / np.maximum(margin + upnl, 1e-12)
        return np.where(upnl > 0, pnl_pct * eff, pnl_pct / np.maximum(eff, 1e-12))

    def take(self, mask: np.ndarray) -> PositionBook:
        """The rows where ``mask`` is true."""
        return PositionBook(
            self.side[mask], self.qty_base[mask], self.entry[mask], self.leverage[mask],
            self.liq_price[mask], self.bankrupt_price[mask], self.label,
        )  # fmt: skip

    def live_at(self, mark: float) -> PositionBook:
        """Drop positions already past their liquidation price at ``mark`` (they cannot be open)."""
        ok = np.where(self.side > 0, self.liq_price < mark, self.liq_price > mark)
        return self.take(ok & (self.qty_base > 0))

    def frame(self) -> pl.DataFrame:
        """The book as a table: ``side, qty_base, entry, leverage, liq_price, bankrupt_price,
        notional_usd`` (at entry)."""
        return pl.DataFrame(
            {
                "side": np.where(self.side > 0, "long", "short"),
                "qty_base": self.qty_base,
                "entry": self.entry,
                "leverage": self.leverage,
                "liq_price": self.liq_price,
                "bankrupt_price": self.bankrupt_price,
                "notional_usd": self.qty_base * self.entry,
            }
        )


def concat_books(books: list[PositionBook], label: str = "") -> PositionBook:
    """One book holding the rows of ``books`` in order."""
    if not books:
        raise CascadeInputError("concat_books: no books given")

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in books])

    return PositionBook(
        cat("side").astype(np.int8), cat("qty_base"), cat("entry"), cat("leverage"), cat("liq_price"),
        cat("bankrupt_price"), label or books[0].label,
    )  # fmt: skip


def _isolated_prices(
    side: np.ndarray, qty: np.ndarray, entry: np.ndarray, margin: np.ndarray, table: BracketTable
) -> np.ndarray:
    """Binance isolated liquidation price per position, tier chosen at the liquidation price."""
    lp = np.full(qty.shape, np.nan)
    todo = np.ones(qty.shape, dtype=bool)
    for t in table.tiers:
        for s, name in ((1, "long"), (-1, "short")):
            m = todo & (side == s)
            if not m.any():
                continue
            # the formula is plain arithmetic: it takes arrays as well as floats
            cand = np.asarray(
                binance_liq_price_at(name, qty[m], entry[m], margin[m], t.mmr, t.maint_amount_usd),  # type: ignore[arg-type]
                dtype=np.float64,
            )
            fits = qty[m] * np.maximum(cand, 0.0) <= t.notional_cap_usd
            idx = np.flatnonzero(m)
            lp[idx[fits]] = cand[fits]
            todo[idx[fits]] = False
            if t is table.tiers[-1]:
                lp[idx[~fits]] = cand[~fits]
                if (~fits).any() and not table.complete:
                    big = float((qty[m] * np.maximum(cand, 0.0))[~fits].max())
                    raise CascadeInputError(
                        f"{table.venue} {table.symbol} bracket table from ms {table.effective_from_ms} only "
                        f"holds tiers up to {t.notional_cap_usd:,.0f} USD; a position of {big:,.0f} USD has "
                        "no sourced bracket. Split it into smaller rows or pass an older table."
                    )
    return lp


def book_from_table(
    positions: pl.DataFrame,
    *,
    ts_ms: int,
    brackets: Brackets | None = None,
    label: str = "user table",
) -> PositionBook:
    """A book from a user's table of isolated positions, priced by the venue's rules.

    Parameters
    ----------
    positions : polars.DataFrame
        Columns ``side`` ("long"/"short"), ``entry`` (USDT); the size as ``qty_base`` or ``notional_usd``
        (at entry); the margin as ``leverage`` or ``margin_usd``. Optional ``liq_price`` overrides the
        computed one (e.g. copied from the venue's screen).
    ts_ms : int
        Instant whose maintenance bracket table applies, ms UTC.
    brackets : Brackets, optional
        The venue's tables and formula (:func:`~perpscope.heatmap.liqprice.brackets_for`). Default: Binance
        BTCUSDT.

    Returns
    -------
    PositionBook
        Liquidation price: Binance's exact formula
        (:func:`~perpscope.heatmap.liqprice.binance_liq_price_at`, tier holding the notional at that
        price); other venues' formula (:func:`~perpscope.heatmap.liqprice.liq_factor`) with the tier of
        the notional at entry. Bankruptcy price ``entry ∓ margin / qty``.
    """
    cols = set(positions.columns)
    missing = [c for c in ("side", "entry") if c not in cols]
    if missing or not ({"qty_base", "notional_usd"} & cols) or not ({"leverage", "margin_usd"} & cols):
        raise CascadeInputError(
            "positions table: expected columns side, entry, one of qty_base/notional_usd and one of "
            f"leverage/margin_usd; found {sorted(cols)}. Add the missing columns."
        )
    sides = positions.get_column("side").cast(pl.String).str.to_lowercase()
    bad = sides.filter(~sides.is_in(["long", "short"]))
    if bad.len():
        raise CascadeInputError(f"positions table: side must be 'long' or 'short', found {bad[0]!r}")
    side = np.where(sides.to_numpy() == "long", 1, -1).astype(np.int8)
    entry = positions.get_column("entry").cast(pl.Float64).to_numpy().astype(np.float64)
    if "qty_base" in cols:
        qty = positions.get_column("qty_base").cast(pl.Float64).to_numpy().astype(np.float64)
    else:
        qty = positions.get_column("notional_usd").cast(pl.Float64).to_numpy() / entry
    if "leverage" in cols:
        lev = positions.get_column("leverage").cast(pl.Float64).to_numpy().astype(np.float64)
        margin = qty * entry / lev
    else:
        margin = positions.get_column("margin_usd").cast(pl.Float64).to_numpy().astype(np.float64)
        lev = qty * entry / margin
    for name, arr in (("entry", entry), ("size", qty), ("leverage/margin", lev)):
        if not (np.isfinite(arr) & (arr > 0)).all():
            raise CascadeInputError(f"positions table: {name} must be positive and finite in every row")
    br = brackets or brackets_for("BTCUSDT", "binance")
    table = table_at(br.tables, ts_ms)
    if "liq_price" in cols:
        liq = positions.get_column("liq_price").cast(pl.Float64).to_numpy().astype(np.float64)
    elif br.formula == "binance":
        liq = _isolated_prices(side, qty, entry, margin, table)
    else:
        liq = np.array([
            e * liq_factor(br.formula, "long" if sd > 0 else "short", lv, (t := table.tier_for(q * e)).mmr,
                           t.maint_amount_usd / (q * e))
            for sd, q, e, lv in zip(side, qty, entry, lev, strict=True)
        ])  # fmt: skip
    bankrupt = entry - side * margin / qty
    return PositionBook(side, qty, entry, lev, liq, bankrupt, label)


def _factor(model: Model, side: str, lev: float, table: BracketTable, formula: str | None = None) -> float:
    """Liquidation price / entry: the heatmap model's own rule (``formula=None``), or a venue's."""
    tier = table.tier_for(model.position_usd)
    cum = tier.maint_amount_usd / model.position_usd
    if formula is not None:
        return liq_factor(formula, side, lev, tier.mmr, cum)  # type: ignore[arg-type]
    if model.liq_formula == "simple":
        return 1.0 - 1.0 / lev + tier.mmr if side == "long" else 1.0 + 1.0 / lev - tier.mmr
    return binance_isolated_factor(side, lev, tier.mmr, cum)  # type: ignore[arg-type]


#: ``snapshot_at`` of a heatmap run keeping the book only after the last bar.
_FINAL_ONLY = np.empty(0, dtype=np.int64)


def book_from_heatmap(
    model: Model,
    bars: pl.DataFrame,
    *,
    grid: PriceGrid | None = None,
    brackets: Brackets | None = None,
    prepared: dict[Model, Any] | None = None,
) -> tuple[PositionBook, float]:
    """The positions a heatmap model inferred from ``bars``, split by leverage; and the last close.

    Each (price bin, leverage) with USD becomes one position. The model placed it at the bin's mid with
    its own rule; its entry is ``mid / factor(L)`` (the factor the model used, with the tier in force at
    the last bar), its size ``USD / entry`` (the heatmap books notional at entry), its bankruptcy price
    ``entry·(1 ∓ 1/L)`` (isolated margin = notional / L), and its liquidation price
    ``entry·factor_venue(L)`` by the venue's own formula and tables (``brackets``, default Binance
    BTCUSDT: :func:`~perpscope.heatmap.liqprice.brackets_for`). ``prepared``: a dict kept by the caller
    over the same ``bars`` (:func:`~perpscope.heatmap.models.leverage_runs`), sharing the runs' work that
    does not depend on the leverage mix across models.

    Returns
    -------
    (PositionBook, float)
        Positions still open at the last close (bins the close already crossed are dropped) and the
        last close, USDT.
    """
    grid = grid or default_grid(bars, model)
    levs, w = model.mix.normalized()
    last_ms = int(bars.get_column("ts_ms").dt.epoch("ms").max())  # type: ignore[arg-type]
    br = brackets or brackets_for("BTCUSDT", "binance")
    tables = br.tables
    table = table_at(tables, last_ms)
    parts: list[PositionBook] = []
    close = float("nan")
    mids = grid.mids
    # each leverage alone (the book records it per position); only the final book is read: one snapshot
    # (the last bar's) instead of ~500 copies of the grid, which were 60% of a dashboard's first request
    runs = leverage_runs(model, bars, grid=grid, tables=tables, snapshot_at=_FINAL_ONLY, prepared=prepared)
    for lev, wk, run in zip(levs, w, runs, strict=True):
        close = run.last_close
        for s, name, book in ((1, "long", run.out.final_long), (-1, "short", run.out.final_short)):
            nz = np.flatnonzero(book > 0)
            if not nz.size:
                continue
            entry = mids[nz] / _factor(model, name, float(lev), table)
            liq = entry * _factor(model, name, float(lev), table, br.formula)
            usd = book[nz] * wk
            parts.append(
                PositionBook(
                    np.full(nz.size, s, np.int8), usd / entry, entry, np.full(nz.size, float(lev)), liq,
                    entry * (1.0 - s / lev), "",
                )
            )  # fmt: skip
    if not parts:
        raise CascadeInputError(
            f"the heatmap model found no open leveraged positions in {bars.height} bars; "
            "give it a longer history (open interest must rise somewhere in it)"
        )
    return concat_books(parts, describe(model)).live_at(close), close


def ensemble_books(
    bars: pl.DataFrame,
    base: Model = DEFAULT_MODEL,
    members: list[Model] | None = None,
    brackets: Brackets | None = None,
) -> tuple[list[PositionBook], float]:
    """One book per heatmap ensemble member (default: every member around the default model whose
    inputs the bars carry), on one shared grid, priced by ``brackets``; and the last close."""
    members = members or ensemble_members(base, bars=bars)
    grids = [default_grid(bars, m) for m in members]
    lo = min(g.lo for g in grids)
    hi = max(g.lo + g.width * g.n_bins for g in grids)
    grid = PriceGrid(lo, (hi - lo) / 2000, 2000)
    books, close = [], math.nan
    prepared: dict[Model, Any] = {}  # the members' work that does not depend on their mix, shared
    for m in members:
        b, close = book_from_heatmap(m, bars, grid=grid, brackets=brackets, prepared=prepared)
        books.append(b)
    return books, close
