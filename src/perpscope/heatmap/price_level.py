"""Price-level scoring: is the model's USD where liquidations actually printed, price by price?

The bar-level harness (:mod:`perpscope.heatmap.calibration`) compares USD per *bar*; bar totals carry no
price. Recorded liquidation orders do: Binance's ``forceOrder`` stream gives each order's price and
quantity (``liquidations`` records; ``../shared/data/binance_force_orders``, SOURCES.md §5). Per
*window* (one symbol, a span of time) the model's book is read as it stood when the window opened
(bars closed by then: no look-ahead) and compared with the liquidation orders of the window:

- **Data first**: realized USD per side and per price band of ``band_pct`` % of the opening price
  (longs below it, shorts above), the window's price range, and where in a fall the long liquidations
  printed (share of the USD in the lowest quarter of the move from the open to the low).
- **Rank correlation** (Spearman, ties averaged) of model USD per band with realized USD per band, over
  the bands the window's price range reached (nothing can print where price did not go) — beside the
  same correlation for the **bar-range baseline**: per band, the number of the window's bars whose
  high–low range covers it. The baseline knows the path (ex post) and nothing about positions, so a model
  that only knows "where price went" ties with it.
- **Top-k share**: share of realized USD inside the model's ``k`` hottest zones (``width_pct`` % wide),
  vs ``n_controls`` distance-matched control ranges per zone (same width, same side, distance
  ``U(0.5, 1.5) ×`` the zone's: a control needs about as large a move to be reached), scaled to the
  same number of zones; and vs the top-``k`` zones of the bar-range baseline.
- **Intervals**: 95% percentile bootstrap over windows, resampling windows of one day together (orders
  of one session are not independent of each other).

Windows are split into fit and test by a date fixed before looking at any score
(:data:`FIT_TEST_SPLIT_MS`). Sampling limit: Binance sends at most one force order per symbol per
second, so the recordings are samples that saturate in cascades; the shares are of the recorded USD.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from perpscope.heatmap.models import PriceGrid
from perpscope.heatmap.zones import top_windows

#: Fit windows open before this instant, test windows at or after it: 2025-02-01 00:00 UTC, fixed before
#: any score was looked at (the recorded orders: 2024-06, 2024-08 and 2025-01-26 → 01-31 to fit;
#: 2025-02-01 → 02-06, 2025-06 and 2025-12 to test).
FIT_TEST_SPLIT_MS = 1_738_368_000_000


@dataclass(frozen=True, slots=True)
class Book:
    """A model's book when a window opens: USD by liquidation-price bin, and the price then."""

    grid: PriceGrid
    price: float
    longs: np.ndarray
    shorts: np.ndarray


@dataclass(frozen=True, slots=True)
class SideScore:
    """One window, one side: the data's numbers, then the model's and the baseline's."""

    symbol: str
    start_ms: int
    end_ms: int
    side: str  # "long" (orders that sold longs out, below the open) or "short"
    model: str
    n_orders: int
    realized_usd: float
    move_pct: float  # low (longs) or high (shorts) of the window vs its opening price, %
    bands_reached: int
    realized_in_last_quarter: float  # share of realized USD in the quarter of the move nearest its end
    realized_beyond_open: float  # share of realized USD on the far side of the opening price
    model_in_last_quarter: (
        float  # share of the model's USD in the reached range that lies in its last quarter
    )
    model_usd_reached: float  # model USD in the bands the price reached
    spearman_model: float
    spearman_baseline: float
    zone_share: float  # realized USD in the model's top-k zones / realized USD
    control_share: float  # same, distance-matched controls (per zone, times the number of zones)
    baseline_share: float  # same, the bar-range baseline's top-k zones
    zone_cover: float  # share of the reached price range [extreme, open] the model's zones cover
    baseline_cover: float  # same, the baseline's zones
    realized_bands: tuple[float, ...]  # realized USD per band outward from the open (bands reached)
    model_bands: tuple[float, ...]  # model USD per band, same bands

    @property
    def phase(self) -> str:
        return "fit" if self.start_ms < FIT_TEST_SPLIT_MS else "test"


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def _cover(ranges: Sequence[tuple[float, float]], a: float, b: float) -> float:
    """Share of [a, b] that the (disjoint) ranges overlap."""
    if b <= a:
        return 0.0
    return sum(max(0.0, min(hi, b) - max(lo, a)) for lo, hi in ranges) / (b - a)


def _in_ranges(prices: np.ndarray, usd: np.ndarray, ranges: Sequence[tuple[float, float]]) -> float:
    hit = np.zeros(len(prices), dtype=bool)
    for lo, hi in ranges:
        hit |= (prices >= lo) & (prices < hi)
    return float(usd[hit].sum())


def score_window(
    book: Book,
    high: np.ndarray,
    low: np.ndarray,
    orders: pl.DataFrame,
    *,
    symbol: str,
    start_ms: int,
    end_ms: int,
    model: str,
    band_pct: float = 0.5,
    k: int = 5,
    width_pct: float = 0.5,
    n_controls: int = 20,
    rng: np.random.Generator,
) -> list[SideScore]:
    """Score one window, per side with any realized USD.

    ``high``/``low``: the window's bars (quote currency); ``orders``: its liquidation orders with
    ``side`` (``long`` = a long position force-closed), ``price`` and ``notional_usd``.
    """
    out = []
    for side in ("long", "short"):
        o = orders.filter(pl.col("side") == side)
        usd = o.get_column("notional_usd").to_numpy().astype(float)
        if not usd.size or usd.sum() <= 0:
            continue
        price = o.get_column("price").to_numpy().astype(float)
        sd = _side_of(book, side, high, low)
        bands = _band_scores(sd, high, low, price, usd, band_pct)
        zones = _zone_scores(sd, high, low, price, usd, k, width_pct, n_controls, rng)
        total = float(usd.sum())
        in_reach = sd.on_side & (sd.mids >= sd.r_lo) & (sd.mids <= sd.r_hi)
        in_last = in_reach & ((sd.mids <= sd.q_edge) if side == "long" else (sd.mids >= sd.q_edge))
        last_q = (price <= sd.q_edge) if side == "long" else (price >= sd.q_edge)
        out.append(
            SideScore(
                symbol=symbol,
                start_ms=start_ms,
                end_ms=end_ms,
                side=side,
                model=model,
                n_orders=int(usd.size),
                realized_usd=total,
                move_pct=(sd.ext / sd.p - 1.0) * 100.0,
                bands_reached=bands.n_reached,
                realized_in_last_quarter=float(usd[last_q].sum()) / total,
                realized_beyond_open=float(usd[~bands.near].sum()) / total,
                model_in_last_quarter=float(sd.book_side[in_last].sum() / reached)
                if (reached := float(sd.book_side[in_reach].sum())) > 0
                else math.nan,
                model_usd_reached=float(bands.model.sum()),
                spearman_model=_spearman(bands.model, bands.realized),
                spearman_baseline=_spearman(bands.baseline.astype(float), bands.realized),
                zone_share=zones.zone_share,
                control_share=zones.control_share,
                baseline_share=zones.baseline_share,
                zone_cover=_cover(zones.zones, sd.r_lo, sd.r_hi),
                baseline_cover=_cover(zones.baseline_zones, sd.r_lo, sd.r_hi),
                realized_bands=tuple(float(x) for x in bands.realized),
                model_bands=tuple(float(x) for x in bands.model),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class _Side:
    """One side of a window as the scores see it: the opening price ``p`` (quote currency), ``sgn``
    (−1: longs, liquidated below the open; +1: shorts, above), the book's bin middles and which lie on
    this side, the book's USD of this side, the window's extreme price on this side (``ext``), the range
    ``[r_lo, r_hi]`` between the open and it, and ``q_edge``, where its quarter nearest ``ext`` starts."""

    side: str
    p: float
    sgn: float
    grid: PriceGrid
    mids: np.ndarray
    on_side: np.ndarray
    book_side: np.ndarray
    ext: float
    r_lo: float
    r_hi: float
    q_edge: float

    def bands_out(self, x: Any, band_pct: float) -> Any:
        """Distance of price(s) ``x`` from the open, outward on this side, in bands of ``band_pct`` %:
        band i covers ``[i, i + 1)``."""
        return self.sgn * (x / self.p - 1.0) * 100.0 / band_pct


def _side_of(book: Book, side: str, high: np.ndarray, low: np.ndarray) -> _Side:
    p, mids = book.price, book.grid.mids
    ext = float(np.min(low)) if side == "long" else float(np.max(high))
    r_lo, r_hi = (ext, p) if side == "long" else (p, ext)
    return _Side(
        side=side,
        p=p,
        sgn=-1.0 if side == "long" else 1.0,
        grid=book.grid,
        mids=mids,
        on_side=mids <= p if side == "long" else mids > p,
        book_side=book.longs if side == "long" else book.shorts,
        ext=ext,
        r_lo=r_lo,
        r_hi=r_hi,
        q_edge=ext + (p - ext) * 0.25,
    )


@dataclass(frozen=True, slots=True)
class _Bands:
    """USD per band over the bands the window reached: realized, the model's, and the bar-range
    baseline's count of bars; ``near`` marks the orders on this side of the open (the others have no band)."""

    n_reached: int
    realized: np.ndarray
    model: np.ndarray
    baseline: np.ndarray
    near: np.ndarray


def _band_scores(
    sd: _Side, high: np.ndarray, low: np.ndarray, price: np.ndarray, usd: np.ndarray, band_pct: float
) -> _Bands:
    reach = sd.bands_out(sd.ext, band_pct)
    n_reached = max(1, math.ceil(reach)) if reach > 0 else 1
    # orders on the far side of the open (price rose, then longs sold out above the open) have no band:
    # the book at the open cannot hold them (their positions opened inside the window); they stay in
    # the total, so every share is of all the window's USD
    d_o = sd.bands_out(price, band_pct)
    near = d_o >= 0
    real_b = np.bincount(np.floor(d_o[near]).astype(int), usd[near], n_reached + 1)[:n_reached]
    bi = np.floor(sd.bands_out(sd.mids, band_pct)).astype(int)
    ok = sd.on_side & (bi >= 0) & (bi < n_reached)
    model_b = np.bincount(bi[ok], sd.book_side[ok], n_reached)
    # bar-range baseline: per band, how many of the window's bars covered its middle
    band_mid = sd.p * (1.0 + sd.sgn * (np.arange(n_reached) + 0.5) * band_pct / 100.0)
    base_b = ((low[:, None] <= band_mid[None, :]) & (high[:, None] >= band_mid[None, :])).sum(0)
    return _Bands(n_reached, real_b, model_b, base_b, near)


@dataclass(frozen=True, slots=True)
class _Zones:
    """The model's top-k zones and the bar-range baseline's (price ranges), and the share of the
    window's realized USD inside them and inside distance-matched controls."""

    zones: list[tuple[float, float]]
    baseline_zones: list[tuple[float, float]]
    zone_share: float
    control_share: float
    baseline_share: float


def _zone_scores(
    sd: _Side,
    high: np.ndarray,
    low: np.ndarray,
    price: np.ndarray,
    usd: np.ndarray,
    k: int,
    width_pct: float,
    n_controls: int,
    rng: np.random.Generator,
) -> _Zones:
    wb = max(1, round(sd.p * width_pct / 100.0 / sd.grid.width))
    zone_w = wb * sd.grid.width
    edges, mids, p = sd.grid.edges, sd.mids, sd.p
    side_book = np.where(sd.on_side, sd.book_side, 0.0)
    zones = [(float(edges[a]), float(edges[b])) for a, b, _ in top_windows(side_book, wb, k)]
    total = float(usd.sum())
    zone_share = _in_ranges(price, usd, zones) / total if zones else math.nan
    cap, n_c = 0.0, 0
    for zlo, zhi in zones:
        d = abs((zlo + zhi) / 2 - p)
        for _ in range(n_controls):
            mid = p + sd.sgn * d * rng.uniform(0.5, 1.5)
            clo, chi = mid - zone_w / 2, mid + zone_w / 2
            if any(clo < b and a < chi for a, b in zones):
                continue
            cap += _in_ranges(price, usd, [(clo, chi)])
            n_c += 1
    control_share = cap / n_c * len(zones) / total if n_c else math.nan
    cover = ((low[:, None] <= mids[None, :]) & (high[:, None] >= mids[None, :])).sum(0).astype(float)
    cover = np.where(sd.on_side, cover - 1e-9 * np.abs(mids - p) / p, 0.0)  # ties: nearer the price
    cover = np.where(cover > 0, cover, 0.0)
    bz = [(float(edges[a]), float(edges[b])) for a, b, _ in top_windows(cover, wb, k)]
    baseline_share = _in_ranges(price, usd, bz) / total if bz else 0.0
    return _Zones(zones, bz, zone_share, control_share, baseline_share)


def scores_frame(scores: Sequence[SideScore]) -> pl.DataFrame:
    """One row per window and side (the :class:`SideScore` fields, ``phase``, times as UTC datetimes)."""
    cols = [f for f in SideScore.__slots__ if not f.endswith("_bands")]
    rows = [{c: getattr(s, c) for c in cols} | {"phase": s.phase} for s in scores]
    text = ("symbol", "side", "model")
    schema: dict[str, Any] = {c: (pl.String if c in text else pl.Float64) for c in cols}
    schema |= {"start_ms": pl.Int64, "end_ms": pl.Int64, "n_orders": pl.Int64, "bands_reached": pl.Int64}
    schema["phase"] = pl.String
    df = pl.DataFrame(rows, schema=schema)
    return df.with_columns(pl.col("start_ms", "end_ms").cast(pl.Datetime("ms", "UTC")))


@dataclass(frozen=True, slots=True)
class Summary:
    """Pooled scores of a set of windows with 95% bootstrap intervals (resampling days)."""

    phase: str
    n_windows: int
    n_orders: int
    realized_usd: float
    realized_in_last_quarter: float
    realized_beyond_open: float
    model_in_last_quarter: float  # realized-USD-weighted mean over windows where the model held USD in reach
    zone_share: tuple[float, float, float]  # value, ci_lo, ci_hi (USD-pooled over windows)
    control_share: tuple[float, float, float]
    baseline_share: tuple[float, float, float]
    zone_minus_control: tuple[float, float, float]
    zone_cover: float  # USD-weighted share of the reached range the zones cover
    baseline_cover: float
    realized_by_band: tuple[float, ...]  # pooled realized USD per band outward from the open
    model_by_band: tuple[float, ...]  # pooled model USD per band (within the bands reached)
    spearman_model: tuple[float, float, float]  # mean over windows with a defined correlation
    spearman_baseline: tuple[float, float, float]
    n_spearman: int  # windows where both correlations are defined (≥ 3 bands reached, not all equal)

    def frame(self) -> pl.DataFrame:
        """``score, value, ci_lo, ci_hi``."""
        rows = [
            ("share of realized USD in the model's top-k zones", *self.zone_share),
            ("  … in distance-matched controls (same count)", *self.control_share),
            ("  … in the bar-range baseline's top-k zones", *self.baseline_share),
            ("zones minus controls", *self.zone_minus_control),
            ("Spearman per band, model (mean over windows)", *self.spearman_model),
            ("Spearman per band, bar-range baseline", *self.spearman_baseline),
        ]
        return pl.DataFrame(rows, schema=["score", "value", "ci_lo", "ci_hi"], orient="row")


def _weighted(x: Sequence[float], w: np.ndarray) -> float:
    a = np.asarray(x, dtype=float)
    ok = np.isfinite(a)
    return float((a[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() and w[ok].sum() > 0 else math.nan


def summarize(scores: Sequence[SideScore], phase: str, *, n_boot: int = 2000, seed: int = 0) -> Summary:
    """Pool the windows of one phase (``fit``, ``test`` or ``all``): USD-weighted shares and mean
    correlations, each with a 95% bootstrap interval over days (a day's windows resampled together)."""
    s = [x for x in scores if phase == "all" or x.phase == phase]
    if not s:
        raise ValueError(f"price-level scores: no window in the {phase} phase")
    usd = np.array([x.realized_usd for x in s])
    z = np.array([x.zone_share for x in s]) * usd
    c = np.array([x.control_share for x in s]) * usd
    b = np.array([x.baseline_share for x in s]) * usd
    sm = np.array([x.spearman_model for x in s])
    sb = np.array([x.spearman_baseline for x in s])
    day = np.array([x.start_ms // 86_400_000 for x in s])
    days, inv = np.unique(day, return_inverse=True)

    def stat(idx: np.ndarray) -> np.ndarray:
        u = usd[idx].sum()
        zz, cc, bb = np.nansum(z[idx]) / u, np.nansum(c[idx]) / u, np.nansum(b[idx]) / u
        m = sm[idx][np.isfinite(sm[idx]) & np.isfinite(sb[idx])]
        n = sb[idx][np.isfinite(sm[idx]) & np.isfinite(sb[idx])]
        return np.array([zz, cc, bb, zz - cc, m.mean() if m.size else np.nan, n.mean() if n.size else np.nan])

    point = stat(np.arange(len(s)))
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(inv == i) for i in range(len(days))]
    boots = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(days), len(days))
        boots.append(stat(np.concatenate([members[i] for i in pick])))
    bt = np.array(boots)
    with warnings.catch_warnings():  # a score undefined in every draw (no correlation) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanpercentile(bt, 2.5, axis=0)
        hi = np.nanpercentile(bt, 97.5, axis=0)
    tri = [(float(point[i]), float(lo[i]), float(hi[i])) for i in range(6)]
    last_q = float(sum(x.realized_in_last_quarter * x.realized_usd for x in s) / usd.sum())
    n_b = max(len(x.realized_bands) for x in s)
    rb, mb = np.zeros(n_b), np.zeros(n_b)
    for x in s:
        rb[: len(x.realized_bands)] += x.realized_bands
        mb[: len(x.model_bands)] += x.model_bands
    return Summary(
        phase=phase,
        n_windows=len(s),
        n_orders=int(sum(x.n_orders for x in s)),
        realized_usd=float(usd.sum()),
        realized_in_last_quarter=last_q,
        realized_beyond_open=float(sum(x.realized_beyond_open * x.realized_usd for x in s) / usd.sum()),
        model_in_last_quarter=_weighted([x.model_in_last_quarter for x in s], usd),
        zone_share=tri[0],
        control_share=tri[1],
        baseline_share=tri[2],
        zone_minus_control=tri[3],
        zone_cover=float(sum(x.zone_cover * x.realized_usd for x in s) / usd.sum()),
        baseline_cover=float(sum(x.baseline_cover * x.realized_usd for x in s) / usd.sum()),
        realized_by_band=tuple(float(v) for v in rb),
        model_by_band=tuple(float(v) for v in mb),
        spearman_model=tri[4],
        spearman_baseline=tri[5],
        n_spearman=int((np.isfinite(sm) & np.isfinite(sb)).sum()),
    )
