"""Position-inference models: where leveraged positions were opened, and where they would be liquidated.

Two models decide, bar by bar, how much leveraged notional opened on each side and at what entry; the
kernel (:mod:`perpscope.heatmap.kernel`) places it at liquidation prices and consumes it as the price
path crosses it. Model cards: ``docs/heatmap/oi-change.md`` and ``docs/heatmap/trade-flow.md``.

- :class:`OIChangeModel` (``oi-change`` v1): new notional where open interest rises.
- :class:`TradeFlowModel` (``trade-flow`` v1): new notional from taker-volume surges, for venues or
  periods without open-interest history.

Side rules (which side of each new contract is the leveraged one): every new contract has a long and a
short; the models assume the leveraged side is the *aggressor* — the trader who crossed the spread to
open — and that the resting side is mostly market makers and hedgers with little leverage. The long
share of new leveraged notional is then taken from:

- ``taker``: taker-buy share of the bar's volume (default; from the candles or taker-volume records);
- ``ratio``: the global long/short account ratio's long share (Binance ``globalLongShortAccountRatio``);
- ``funding``: ``0.5 + (funding_8h − 0.0001) / 0.0004`` clipped to [0.25, 0.75] — positive funding beyond
  the 0.01%/8h baseline means longs pay to stay, i.e. longs are the crowded, leveraged side;
- ``even``: 0.5.

A rule whose input is missing in a bar falls back to 0.5 for that bar.

Netting windows (why the book does not depend on the bar length): open interest moves up and down
within hours as positions open and close; differencing it bar by bar counts that churn as new positions,
so 5-minute bars built books 2–5× those of 1-hour bars over the same span. Both models therefore decide
flows per *netting window* (``netting_ms``, default 4 h, aligned to UTC; a longer bar is its own
window): only the window's net open-interest change (or its volume surge) opens or closes positions.
The window's new notional is spread over its bars in proportion to their quote volume, each part at
that bar's entry price, and enters the book when the window's last bar closes; the long share is the
window's (volume-weighted). A window's positions are thus placed as finely as the bars allow, while
their size is the same at 5m, 1h and 4h (tested on real data in ``tests/heatmap/test_invariance.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import polars as pl

from perpscope.heatmap.inputs import HeatmapInputError
from perpscope.heatmap.kernel import KERNELS, KernelOut
from perpscope.heatmap.liqprice import BracketTable, binance_isolated_factor, brackets_for, table_at

SideRule = Literal["taker", "ratio", "funding", "even"]
EntryRule = Literal["typical", "vwap", "close"]
LiqFormula = Literal["binance-exact", "simple"]

#: Default netting window of the models' flows, ms (4 h: the coarsest bar the invariance is tested at).
NETTING_MS = 4 * 3_600_000


@dataclass(frozen=True, slots=True)
class LeverageMix:
    """Share of new leveraged notional opened at each leverage (weights are normalized)."""

    name: str
    leverages: tuple[float, ...]
    weights: tuple[float, ...]

    def normalized(self) -> tuple[np.ndarray, np.ndarray]:
        w = np.asarray(self.weights, dtype=np.float64)
        return np.asarray(self.leverages, dtype=np.float64), w / w.sum()


#: Leverage mixes the ensemble spans. Assumptions, not measurements: no venue publishes its leverage
#: distribution; these bracket plausible retail-heavy to conservative books.
MIXES: dict[str, LeverageMix] = {
    "low": LeverageMix("low", (2, 3, 5, 10, 20), (0.15, 0.2, 0.3, 0.25, 0.1)),
    "mid": LeverageMix("mid", (5, 10, 20, 25, 50, 100), (0.15, 0.3, 0.25, 0.1, 0.15, 0.05)),
    "high": LeverageMix("high", (10, 20, 25, 50, 75, 100, 125), (0.1, 0.15, 0.15, 0.25, 0.1, 0.15, 0.1)),
}


@dataclass(frozen=True, slots=True)
class OIChangeModel:
    """``oi-change`` v1: leveraged notional opens where open interest rises.

    Parameters
    ----------
    mix : LeverageMix
        Leverage distribution of new positions.
    side_rule : {"taker", "ratio", "funding", "even"}
        How new notional is split between longs and shorts (module docstring).
    entry_rule : {"typical", "vwap", "close"}
        Entry price of the bar's new positions: (H+L+C)/3, quote/base volume, or close.
    liq_formula : {"binance-exact", "simple"}
        ``binance-exact``: isolated Binance formula with the bracket in force at the bar
        (:func:`~perpscope.heatmap.liqprice.binance_isolated_factor`); ``simple``: EP·(1 ∓ 1/L ± MMR).
    position_usd : float
        Notional of one representative position, USD; picks the bracket (tier) of the table.
    leveraged_fraction : float
        Share of each new contract's notional counted as leveraged (1.0 = one side of every contract).
    half_life_ms : int or None
        Optional time decay of the book (positions closed for reasons the OI series does not show).
    netting_ms : int
        Netting window, ms: open interest changes within it net out (module docstring).
    """

    mix: LeverageMix = MIXES["mid"]
    side_rule: SideRule = "taker"
    entry_rule: EntryRule = "typical"
    liq_formula: LiqFormula = "binance-exact"
    position_usd: float = 10_000.0
    leveraged_fraction: float = 1.0
    half_life_ms: int | None = None
    netting_ms: int = NETTING_MS
    name: str = field(default="oi-change", init=False)
    version: str = field(default="1", init=False)


@dataclass(frozen=True, slots=True)
class TradeFlowModel:
    """``trade-flow`` v1: leveraged notional opens in taker-volume surges (no open interest needed).

    Parameters
    ----------
    baseline_windows : int
        Trailing netting windows (excluding the current one) whose median quote volume counts as
        ordinary turnover (48 × 4 h = 8 days).
    open_fraction : float
        Share of a window's quote volume *above* the baseline taken as newly opened leveraged notional.
    half_life_ms : int
        Time decay of the book (no OI decreases to close positions).
    mix, side_rule, entry_rule, liq_formula, position_usd, netting_ms
        As in :class:`OIChangeModel`.
    """

    mix: LeverageMix = MIXES["mid"]
    side_rule: SideRule = "taker"
    entry_rule: EntryRule = "typical"
    liq_formula: LiqFormula = "binance-exact"
    position_usd: float = 10_000.0
    baseline_windows: int = 48
    open_fraction: float = 0.25
    half_life_ms: int = 7 * 86_400_000
    netting_ms: int = NETTING_MS
    name: str = field(default="trade-flow", init=False)
    version: str = field(default="1", init=False)


Model = OIChangeModel | TradeFlowModel


@dataclass(frozen=True, slots=True)
class PriceGrid:
    """Uniform price bins ``[lo + i·width, lo + (i+1)·width)``, i = 0 … n_bins − 1."""

    lo: float
    width: float
    n_bins: int

    @property
    def edges(self) -> np.ndarray:
        return self.lo + self.width * np.arange(self.n_bins + 1)

    @property
    def mids(self) -> np.ndarray:
        return self.lo + self.width * (np.arange(self.n_bins) + 0.5)


@dataclass(frozen=True, slots=True)
class HeatmapRun:
    """One model run over one series: the kernel output with the bars' times and the grid."""

    model: Model
    grid: PriceGrid
    ts_ms: np.ndarray  # (n_bars,) int64 bar opens
    interval_ms: int
    snapshot_ts_ms: np.ndarray  # (n_snapshots,) bar opens of the snapshot bars
    last_close: float
    out: KernelOut

    def grid_frame(self) -> pl.DataFrame:
        """The heatmap grid: one row per (snapshot bar, price bin) with any USD, book after that bar.

        Columns ``ts_ms`` (bar open), ``price_lo``, ``price_hi``, ``long_usd``, ``short_usd``.
        """
        n_s, n_b = self.out.grid_long.shape
        edges = self.grid.edges
        df = pl.DataFrame(
            {
                "ts_ms": np.repeat(self.snapshot_ts_ms, n_b),
                "price_lo": np.tile(edges[:-1], n_s),
                "price_hi": np.tile(edges[1:], n_s),
                "long_usd": self.out.grid_long.ravel(),
                "short_usd": self.out.grid_short.ravel(),
            }
        )
        return df.filter((pl.col("long_usd") > 0) | (pl.col("short_usd") > 0)).with_columns(
            pl.col("ts_ms").cast(pl.Datetime("ms", "UTC"))
        )

    def predicted_liquidations(self) -> pl.DataFrame:
        """USD the model liquidated in each bar: ``ts_ms, long_usd, short_usd`` (compare with realized)."""
        return pl.DataFrame(
            {"ts_ms": self.ts_ms, "long_usd": self.out.consumed_long, "short_usd": self.out.consumed_short}
        ).with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))


def _col(bars: pl.DataFrame, name: str) -> np.ndarray:
    return bars.get_column(name).cast(pl.Float64).to_numpy().astype(np.float64, copy=True)


def entry_prices(bars: pl.DataFrame, rule: EntryRule) -> np.ndarray:
    """Entry price of each bar's new positions under ``rule`` (vwap falls back to typical)."""
    h, lo, c = _col(bars, "high"), _col(bars, "low"), _col(bars, "close")
    typical = (h + lo + c) / 3.0
    if rule == "typical":
        return typical
    if rule == "close":
        return c
    if rule == "vwap":
        vq, vb = _col(bars, "volume_quote"), _col(bars, "volume_base")
        with np.errstate(invalid="ignore", divide="ignore"):
            v = vq / vb
        ok = np.isfinite(v) & (v >= lo) & (v <= h)
        return np.where(ok, v, typical)
    raise ValueError(f"entry_rule must be typical, vwap or close, got {rule!r}")


def long_share(bars: pl.DataFrame, rule: SideRule) -> np.ndarray:
    """Long share (0…1) of each bar's new leveraged notional under ``rule`` (0.5 where input is missing)."""
    n = bars.height
    if rule == "even":
        return np.full(n, 0.5)
    if rule == "taker":
        with np.errstate(invalid="ignore", divide="ignore"):
            s = _col(bars, "taker_buy_share")
    elif rule == "ratio":
        s = _col(bars, "ls_long_share")
    elif rule == "funding":
        s = np.clip(0.5 + (_col(bars, "funding_8h") - 0.0001) / 0.0004, 0.25, 0.75)
    else:
        raise ValueError(f"side_rule must be taker, ratio, funding or even, got {rule!r}")
    return np.where(np.isfinite(s), np.clip(s, 0.0, 1.0), 0.5)


def _factors(
    model: Model, ts_ms: np.ndarray, tables: list[BracketTable] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bar and leverage: liquidation price / entry for longs and shorts; and the weights."""
    levs, w = model.mix.normalized()
    n = len(ts_ms)
    if tables is None:
        tables = brackets_for("BTCUSDT", "binance").tables  # callers pass their symbol's: brackets_for
    mmr = np.empty(n)
    cum = np.empty(n)
    # the table in force at each bar (tables change rarely: resolve per distinct table)
    effs = np.array([t.effective_from_ms for t in tables])
    idx = np.searchsorted(effs, ts_ms, side="right") - 1
    first = table_at(tables, int(ts_ms.min())) if (idx < 0).any() else None
    for j in np.unique(idx):
        tier = (tables[j] if j >= 0 else first).tier_for(model.position_usd)  # type: ignore[union-attr]
        mmr[idx == j] = tier.mmr
        cum[idx == j] = tier.maint_amount_usd / model.position_usd
    lf = np.empty((n, len(levs)))
    sf = np.empty((n, len(levs)))
    for k, lev in enumerate(levs):
        if model.liq_formula == "simple":
            lf[:, k] = 1.0 - 1.0 / lev + mmr
            sf[:, k] = 1.0 + 1.0 / lev - mmr
        else:
            lf[:, k] = binance_isolated_factor("long", lev, mmr, cum)  # type: ignore[arg-type]
            sf[:, k] = binance_isolated_factor("short", lev, mmr, cum)  # type: ignore[arg-type]
    return lf, sf, w


@dataclass(frozen=True, slots=True)
class Windows:
    """The bars grouped into netting windows: ``start`` index of each window's first bar, ``of`` the
    window of each bar, ``last`` True on each window's last bar (its commit bar)."""

    start: np.ndarray
    of: np.ndarray
    last: np.ndarray

    @classmethod
    def of_bars(cls, ts_ms: np.ndarray, interval_ms: int, netting_ms: int) -> Windows:
        wid = ts_ms // max(int(netting_ms), int(interval_ms))
        new = np.concatenate([[True], wid[1:] != wid[:-1]])
        start = np.flatnonzero(new)
        last = np.concatenate([new[1:], [True]])
        return cls(start, np.cumsum(new) - 1, last)

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Per window: the sum of ``x`` over its bars."""
        return np.add.reduceat(x, self.start) if len(x) else x

    def shares(self, w: np.ndarray) -> np.ndarray:
        """Per bar: its share of its window's total ``w`` (NaN or ≤ 0 count as 0; even when none is > 0)."""
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
        tot = self.sum(w)[self.of]
        n = self.sum(np.ones(len(w)))[self.of]
        return np.where(tot > 0, w / np.where(tot > 0, tot, 1.0), 1.0 / n)

    def at_last(self, x: np.ndarray) -> np.ndarray:
        """Per window: ``x`` at its last bar."""
        return x[self.last]


def _oi_base(bars: pl.DataFrame) -> np.ndarray:
    """Open interest in base units per bar. Where only USD is stored, each observation is converted at the
    close of the bar that first sees it and held until the next one (dividing every bar's USD by its own
    close would turn price moves into open-interest changes)."""
    base = _col(bars, "oi_base")
    usd = bars.get_column("oi_usd").cast(pl.Float64).fill_nan(None)
    new_obs = usd.is_not_null() & (usd != usd.forward_fill().shift(1)).fill_null(True)
    conv = (
        pl.select(pl.when(new_obs).then(usd / bars.get_column("close").cast(pl.Float64)).forward_fill())
        .to_series()
        .to_numpy()
        .astype(np.float64)
    )
    return np.where(np.isfinite(base), base, conv)


def _flows(
    model: Model, bars: pl.DataFrame, entry: np.ndarray, win: Windows
) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: new leveraged notional (USD) and the fraction of the book that survives the bar.

    Decided per netting window (module docstring): the window's net change, spread over its bars by
    quote volume; the window's open-interest decrease is applied on its last bar.
    """
    n = bars.height
    iv = int(bars.get_column("interval_ms")[0])
    decay = 1.0 if model.half_life_ms is None else 0.5 ** (iv / model.half_life_ms)
    vq = _col(bars, "volume_quote")
    share = win.shares(vq)
    if isinstance(model, OIChangeModel):
        oi = _oi_base(bars)
        if not np.isfinite(oi).any():
            raise HeatmapInputError(
                "oi-change model: the bars carry no open interest; pass open_interest to model_inputs "
                "or use the trade-flow model"
            )
        oi_w = win.at_last(pl.Series(oi).fill_nan(None).forward_fill().to_numpy().astype(np.float64))
        prev = np.concatenate([[np.nan], oi_w[:-1]])
        ok = np.isfinite(oi_w) & np.isfinite(prev) & (prev > 0)
        d = np.where(ok, oi_w - prev, 0.0)
        new = np.maximum(d, 0.0)[win.of] * share * entry * model.leveraged_fraction
        keep_w = np.where(d < 0, oi_w / np.where(ok, prev, 1.0), 1.0)
        keep = np.full(n, decay)
        keep[win.last] *= keep_w
        return new, keep
    if not np.isfinite(vq).any():
        raise HeatmapInputError("trade-flow model: the bars carry no quote volume (volume_quote)")
    vq_w = win.sum(np.where(np.isfinite(vq), vq, 0.0))
    nb = model.baseline_windows
    med = pl.Series(vq_w).shift(1).rolling_median(nb, min_samples=max(2, nb // 4)).to_numpy()
    med = med.astype(np.float64)
    surge = np.where(np.isfinite(med), np.maximum(vq_w - med, 0.0), 0.0)
    return surge[win.of] * share * model.open_fraction, np.full(n, decay)


def default_grid(bars: pl.DataFrame, model: Model, n_bins: int = 2000) -> PriceGrid:
    """A grid that holds every liquidation price the model can produce for these bars."""
    levs = np.asarray(model.mix.leverages, dtype=np.float64)
    lo = float(np.nanmin(_col(bars, "low"))) * max(0.02, 1.0 - 1.0 / levs.min()) * 0.98
    hi = float(np.nanmax(_col(bars, "high"))) * (1.0 + 1.0 / levs.min()) * 1.02
    return PriceGrid(lo, (hi - lo) / n_bins, n_bins)


def _liquidation_range(bars: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each bar's high and low as liquidations see them: the mark price's where the bars carry it (venues
    liquidate on the mark), else the trade price's."""
    high, low = _col(bars, "high"), _col(bars, "low")
    mh, ml = _col(bars, "mark_high"), _col(bars, "mark_low")
    return np.where(np.isfinite(mh), mh, high), np.where(np.isfinite(ml), ml, low)


def _snapshot_bars(
    ts: np.ndarray, interval_ms: int, snapshot_every: int | None, snapshot_at: np.ndarray | None
) -> np.ndarray:
    """Which bars (opening at ``ts``, ms) the book is kept after: the last bar closed by each instant of
    ``snapshot_at``, or every ``snapshot_every``-th bar (default about 500 snapshots); always the last."""
    n = len(ts)
    snaps = np.zeros(n, dtype=np.bool_)
    if snapshot_at is not None:
        j = np.searchsorted(ts + interval_ms, np.asarray(snapshot_at, dtype=np.int64), side="right") - 1
        snaps[j[j >= 0]] = True
    else:
        step = snapshot_every or max(1, n // 500)
        snaps[step - 1 :: step] = True
    snaps[-1] = True
    return snaps


def run_model(
    model: Model,
    bars: pl.DataFrame,
    *,
    grid: PriceGrid | None = None,
    tables: list[BracketTable] | None = None,
    snapshot_every: int | None = None,
    snapshot_at: np.ndarray | None = None,
    engine: Literal["numba", "reference"] = "numba",
) -> HeatmapRun:
    """Run a model over the bars of :func:`~perpscope.heatmap.inputs.model_inputs`.

    Parameters
    ----------
    model : OIChangeModel or TradeFlowModel
    bars : polars.DataFrame
        Model inputs, one series, sorted by time.
    grid : PriceGrid, optional
        Price bins; default :func:`default_grid` with 2,000 bins.
    tables : list of BracketTable, optional
        Maintenance-margin tables; default Binance BTCUSDT. Each bar uses the table in force at its open;
        bars older than the oldest table use the oldest one (BTCUSDT: 2021-03-18).
    snapshot_every : int, optional
        Keep the book every this many bars (and after the last bar); default about 500 snapshots.
    snapshot_at : numpy.ndarray, optional
        Instead, keep the book as it stood at each of these instants (ms): after the last bar closed by
        it (instants before the first bar's close are skipped), and after the last bar.
    engine : {"numba", "reference"}
        Compiled kernel or the readable reference (same results).

    Returns
    -------
    HeatmapRun
    """
    if bars.is_empty():
        raise HeatmapInputError("run_model: no bars")
    grid = grid or default_grid(bars, model)
    return _run_prepared(model, _prepare(model, bars), grid, tables, snapshot_every, snapshot_at, engine)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A model's per-bar inputs to the kernel that do not depend on its leverage mix (entry, new notional
    by side, survival, liquidation range, netting windows)."""

    ts: np.ndarray
    interval_ms: int
    win: Windows
    entry: np.ndarray
    new_long: np.ndarray
    new_short: np.ndarray
    keep: np.ndarray
    high: np.ndarray
    low: np.ndarray
    last_close: float


def _prepare(model: Model, bars: pl.DataFrame) -> _Prepared:
    ts = bars.get_column("ts_ms").dt.epoch("ms").to_numpy().astype(np.int64)
    iv = int(bars.get_column("interval_ms")[0])
    win = Windows.of_bars(ts, iv, model.netting_ms)
    entry = entry_prices(bars, model.entry_rule)
    new, keep = _flows(model, bars, entry, win)
    # the window's long share (weighted by base volume, as one bar of the window's length would have it)
    share = win.sum(long_share(bars, model.side_rule) * win.shares(_col(bars, "volume_base")))[win.of]
    high, low = _liquidation_range(bars)
    last_close = float(_col(bars, "close")[-1])
    return _Prepared(ts, iv, win, entry, new * share, new * (1.0 - share), keep, high, low, last_close)


def _run_prepared(
    model: Model,
    prep: _Prepared,
    grid: PriceGrid,
    tables: list[BracketTable] | None,
    snapshot_every: int | None,
    snapshot_at: np.ndarray | None,
    engine: Literal["numba", "reference"],
) -> HeatmapRun:
    lf, sf, w = _factors(model, prep.ts, tables)
    snaps = _snapshot_bars(prep.ts, prep.interval_ms, snapshot_every, snapshot_at)
    out = KERNELS[engine](
        prep.high,
        prep.low,
        prep.entry,
        prep.new_long,
        prep.new_short,
        prep.keep,
        lf,
        sf,
        w,
        grid.lo,
        grid.width,
        grid.n_bins,
        snaps,
        prep.win.last,
    )
    return HeatmapRun(model, grid, prep.ts, prep.interval_ms, prep.ts[snaps], prep.last_close, out)


#: The mix :func:`leverage_runs` keys its shared work by (any fixed one: the work does not read the mix).
_ANY_MIX = LeverageMix("any", (1.0,), (1.0,))


def leverage_runs(
    model: Model,
    bars: pl.DataFrame,
    *,
    grid: PriceGrid,
    tables: list[BracketTable] | None = None,
    snapshot_at: np.ndarray | None = None,
    prepared: dict[Model, _Prepared] | None = None,
) -> list[HeatmapRun]:
    """:func:`run_model` of ``model`` with each leverage of its mix alone (weight 1), in the mix's order:
    the same runs as one ``run_model`` per one-leverage model, computed once for what does not depend on
    the leverage. ``prepared`` (a dict kept by the caller over the same ``bars``) shares that work across
    models differing only in their mix too (the ensemble's members: 18 models, 109 leverages)."""
    if bars.is_empty():
        raise HeatmapInputError("run_model: no bars")
    store: dict[Model, _Prepared] = {} if prepared is None else prepared
    key = replace(model, mix=_ANY_MIX)  # the model but its mix: what the shared work depends on
    if key not in store:
        store[key] = _prepare(model, bars)
    prep = store[key]
    return [
        _run_prepared(
            replace(model, mix=LeverageMix(f"{model.mix.name}@{lev:g}x", (float(lev),), (1.0,))),
            prep,
            grid,
            tables,
            None,
            snapshot_at,
            "numba",
        )
        for lev in model.mix.leverages
    ]


def ensemble_members(
    base: Model,
    *,
    mixes: tuple[str, ...] = ("low", "mid", "high"),
    side_rules: tuple[SideRule, ...] = ("taker", "ratio", "funding", "even"),
    entry_rules: tuple[EntryRule, ...] = ("typical", "vwap"),
    bars: pl.DataFrame | None = None,
) -> list[Model]:
    """Every combination of the uncertain parameters around ``base`` (rules whose input the bars lack
    are left out when ``bars`` is given)."""
    if bars is not None:
        have = {c for c in bars.columns if bars.get_column(c).is_not_null().any()}
        need = {"taker": "taker_buy_share", "ratio": "ls_long_share", "funding": "funding_8h"}
        side_rules = tuple(r for r in side_rules if r not in need or need[r] in have)
        if "volume_quote" not in have:
            entry_rules = tuple(r for r in entry_rules if r != "vwap") or ("typical",)
    return [
        replace(base, mix=MIXES[m], side_rule=s, entry_rule=e)
        for m in mixes
        for s in side_rules
        for e in entry_rules
    ]
