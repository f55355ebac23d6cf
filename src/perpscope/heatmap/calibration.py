"""Calibration harness: are the predicted zones where liquidations actually fire?

Fit on an earlier window, score on a later one, against *realized* liquidation totals per bar
(``liquidation_totals`` rows, e.g. CoinGlass's Binance 4h series or the three-exchange 1h aggregate).
Everything is point in time: the book read at a bar's open is the book after the previous bar.

Scores (each with a Wilson 95% interval where it is a proportion):

- **Level accuracy, precision@k.** At each scored bar's open take the top-``k`` zones per side
  (:func:`~perpscope.heatmap.zones.top_windows`, width ``width_pct`` % of price) and, for each zone,
  ``n_controls`` control ranges of equal width on the same side at a distance drawn from
  ``U(0.5, 1.5) ×`` the zone's distance (matched in distance, so a control needs about as large a move
  to be reached). Whenever the bar's range enters a zone (a control), that is one zone (control)
  crossing; it is a *hit* when the bar's realized liquidations of that side are at least the
  ``hit_quantile`` of that side's bars in the fit window. precision@k = hits / crossings, compared
  with the controls' rate and with the unconditional rate of such bars.
- **Volume capture.** Realized USD of a bar is spread uniformly over its high–low range; the USD that
  falls inside crossed zones vs inside crossed controls, per crossing, and their ratio with a 95%
  block-bootstrap interval (blocks of ``horizon_bars`` bars).
- **Magnet.** Every ``horizon_bars`` bars (non-overlapping), the single largest zone (either side) at
  distance d and the mirror price at d on the other side: which does price touch first within the
  horizon? Chance is 1/2 for a driftless path; ties (both in one bar) and neither are reported apart.
- **Size.** Predicted USD liquidated per bar (the kernel's consumed USD) vs realized: ratio of sums,
  Spearman rank correlation over bars — next to the Spearman of a no-model baseline (the bar's
  high–low range), because any model that liquidates on big moves correlates with realized totals.

Sampling limits: Binance publishes at most one liquidation order per symbol per second on its
``forceOrder`` stream, and CoinGlass's Binance series is built from it, so realized totals are lower
bounds that saturate in cascades; the three-exchange aggregate has the same limit on its Binance share.
Events within one bar are not independent of the neighbouring bars': intervals are optimistic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from perpscope.core.time import ms_to_iso
from perpscope.heatmap.liqprice import BracketTable
from perpscope.heatmap.models import HeatmapRun, Model, PriceGrid, default_grid, run_model
from perpscope.heatmap.zones import top_windows


class CalibrationWindowError(ValueError):
    """A fit or scored window holds no bar with realized liquidations: nothing to score, so no choice."""


def _window_text(win: tuple[int, int]) -> str:
    return f"{ms_to_iso(win[0])} → {ms_to_iso(win[1])} UTC"


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (``(nan, nan)`` when ``n == 0``).

    References
    ----------
    E. B. Wilson (1927), "Probable inference, the law of succession, and statistical inference",
    JASA 22(158), 209–212.
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = hits / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (c - h, c + h)


@dataclass(frozen=True, slots=True)
class Proportion:
    hits: int
    n: int

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else math.nan

    @property
    def ci(self) -> tuple[float, float]:
        return wilson(self.hits, self.n)


@dataclass(frozen=True, slots=True)
class Scores:
    """Scores of one model over one window (see the module docstring)."""

    model: str
    window: tuple[int, int]  # [start_ms, end_ms)
    n_bars: int
    zone_precision: Proportion
    control_precision: Proportion
    base_rate: Proportion
    zone_usd_per_crossing: float
    control_usd_per_crossing: float
    usd_ratio_ci: tuple[float, float]  # 95% block-bootstrap interval of zone / control USD per crossing
    magnet: Proportion
    magnet_neither: int
    magnet_ties: int
    size_ratio: float  # realized / predicted, sums over the window
    size_spearman: float
    range_spearman: float  # baseline: realized USD vs the bar's (high − low) / previous close

    @property
    def usd_ratio(self) -> float:
        """Realized USD per zone crossing / per control crossing (NaN when the controls saw none)."""
        z, c = self.zone_usd_per_crossing, self.control_usd_per_crossing
        return z / c if c > 0 else math.nan

    @property
    def lift(self) -> float:
        """Zone precision minus control precision (the selection criterion)."""
        return self.zone_precision.rate - self.control_precision.rate

    def frame(self) -> pl.DataFrame:
        """One row per score: ``score, value, ci_lo, ci_hi, n``."""
        rows = []
        for name, p in (
            ("precision@k zones", self.zone_precision),
            ("precision@k controls", self.control_precision),
            ("base rate (any bar)", self.base_rate),
            ("magnet: largest zone first", self.magnet),
        ):
            lo, hi = p.ci
            rows.append((name, p.rate, lo, hi, p.n))
        nan = math.nan
        rows += [
            ("realized USD per zone crossing", self.zone_usd_per_crossing, nan, nan, self.zone_precision.n),
            ("USD per crossing: zone / control", self.usd_ratio, *self.usd_ratio_ci, self.zone_precision.n),
            (
                "realized USD per control crossing",
                self.control_usd_per_crossing,
                nan,
                nan,
                self.control_precision.n,
            ),
            ("size: realized / predicted", self.size_ratio, nan, nan, self.n_bars),
            ("size: Spearman per bar", self.size_spearman, nan, nan, self.n_bars),
            ("baseline: Spearman vs bar range", self.range_spearman, nan, nan, self.n_bars),
        ]
        return pl.DataFrame(rows, schema=["score", "value", "ci_lo", "ci_hi", "n"], orient="row")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return math.nan
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def _block_bootstrap_ratio(
    zev: list[tuple[int, float]],
    cev: list[tuple[int, float]],
    *,
    block: int,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile interval of mean(zone USD) / mean(control USD), resampling blocks of ``block``
    consecutive bars with replacement (crossings in one block stay together: they are not independent)."""
    if not zev or not cev:
        return (math.nan, math.nan)
    blocks = sorted({t // block for t, _ in zev} | {t // block for t, _ in cev})
    pos = {b: i for i, b in enumerate(blocks)}
    nb = len(blocks)
    zs, zc, cs, cc = np.zeros(nb), np.zeros(nb), np.zeros(nb), np.zeros(nb)
    for t, u in zev:
        zs[pos[t // block]] += u
        zc[pos[t // block]] += 1
    for t, u in cev:
        cs[pos[t // block]] += u
        cc[pos[t // block]] += 1
    rng = np.random.default_rng(seed + 1)
    draws = rng.integers(0, nb, size=(n_boot, nb))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (zs[draws].sum(1) / zc[draws].sum(1)) / (cs[draws].sum(1) / cc[draws].sum(1))
    r = r[np.isfinite(r)]
    if not r.size:
        return (math.nan, math.nan)
    return (float(np.percentile(r, 2.5)), float(np.percentile(r, 97.5)))


def _realized_on(bars: pl.DataFrame, realized: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    r = realized.select("ts_ms", pl.col("long_usd").cast(pl.Float64), pl.col("short_usd").cast(pl.Float64))
    r = r.group_by("ts_ms").agg(pl.col("long_usd").sum(), pl.col("short_usd").sum())
    j = bars.select("ts_ms").join(r, on="ts_ms", how="left")
    return (
        j.get_column("long_usd").to_numpy().astype(float),
        j.get_column("short_usd").to_numpy().astype(float),
    )


def score_model(
    model: Model,
    bars: pl.DataFrame,
    realized: pl.DataFrame,
    *,
    fit: tuple[int, int],
    score: tuple[int, int],
    k: int = 5,
    width_pct: float = 0.5,
    n_controls: int = 5,
    hit_quantile: float = 0.75,
    horizon_bars: int = 6,
    grid: PriceGrid | None = None,
    tables: list[BracketTable] | None = None,
    seed: int = 0,
) -> Scores:
    """Scores of ``model`` on the bars in ``score`` = [start_ms, end_ms) (see module docstring).

    The model runs over all ``bars`` (so the book at the window's start holds what built up before);
    the hit threshold is the ``hit_quantile`` of realized USD per side over the ``fit`` window.
    """
    grid = grid or default_grid(bars, model)
    run = run_model(model, bars, grid=grid, tables=tables, snapshot_every=1)
    real_l, real_s = _realized_on(bars, realized)
    thr = _hit_thresholds(run.ts_ms, real_l, real_s, fit, hit_quantile)
    idx = _scored_bars(run.ts_ms, real_l, real_s, score)
    px = _Prices(
        high=bars.get_column("high").to_numpy().astype(float),
        low=bars.get_column("low").to_numpy().astype(float),
        close=bars.get_column("close").to_numpy().astype(float),
    )
    rng = np.random.default_rng(seed)
    cross = _zone_crossings(run, grid, px, idx, real_l, real_s, thr, k, width_pct, n_controls, rng)
    mh, mn, neither, ties = _magnet(run, grid, px, idx, width_pct, horizon_bars)
    pred = run.out.consumed_long[idx] + run.out.consumed_short[idx]
    real = real_l[idx] + real_s[idx]
    zn, cn = cross.zone_n, cross.control_n
    return Scores(
        model=describe(model),
        window=score,
        n_bars=len(idx),
        zone_precision=Proportion(cross.zone_hits, zn),
        control_precision=Proportion(cross.control_hits, cn),
        base_rate=Proportion(cross.base_hits, cross.base_n),
        zone_usd_per_crossing=sum(u for _, u in cross.zone_events) / zn if zn else math.nan,
        control_usd_per_crossing=sum(u for _, u in cross.control_events) / cn if cn else math.nan,
        usd_ratio_ci=_block_bootstrap_ratio(
            cross.zone_events, cross.control_events, block=max(1, horizon_bars), seed=seed
        ),
        magnet=Proportion(mh, mn),
        magnet_neither=neither,
        magnet_ties=ties,
        size_ratio=float(real.sum() / pred.sum()) if pred.sum() > 0 else math.nan,
        size_spearman=_spearman(pred, real),
        range_spearman=_spearman((px.high[idx] - px.low[idx]) / px.close[idx - 1], real),
    )


@dataclass(frozen=True)
class _Prices:
    """The bars' high, low and close (quote currency), as arrays aligned with the model's run."""

    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


@dataclass
class _Crossings:
    """What :func:`_zone_crossings` counted: hits and crossings of the zones, of their distance-matched
    controls and of every bar-side (base rate), and per crossing the realized USD attributed to it."""

    zone_hits: int = 0
    zone_n: int = 0
    control_hits: int = 0
    control_n: int = 0
    base_hits: int = 0
    base_n: int = 0
    zone_events: list[tuple[int, float]] = field(default_factory=list)  # (bar, USD attributed)
    control_events: list[tuple[int, float]] = field(default_factory=list)


def _hit_thresholds(
    ts: np.ndarray, real_l: np.ndarray, real_s: np.ndarray, fit: tuple[int, int], q: float
) -> dict[str, float]:
    """The realized USD per side that counts as a hit: its ``q`` quantile over the fit window's bars."""
    in_fit = (ts >= fit[0]) & (ts < fit[1]) & np.isfinite(real_l) & np.isfinite(real_s)
    if not in_fit.any():
        raise CalibrationWindowError(
            f"the fit window {_window_text(fit)} holds no bar with realized liquidations "
            f"({int(((ts >= fit[0]) & (ts < fit[1])).sum())} bars of the map, none with a liquidation "
            "total): "
            "nothing to fit on; choose a window the stored liquidations cover"
        )
    return {
        "long": float(np.nanquantile(real_l[in_fit], q)),
        "short": float(np.nanquantile(real_s[in_fit], q)),
    }


def _scored_bars(
    ts: np.ndarray, real_l: np.ndarray, real_s: np.ndarray, score: tuple[int, int]
) -> np.ndarray:
    """Indices of the scored window's bars that have realized totals, the map's first bar excepted (each
    bar is scored against the book of the bar before it)."""
    idx = np.flatnonzero((ts >= score[0]) & (ts < score[1]) & np.isfinite(real_l) & np.isfinite(real_s))
    idx = idx[idx > 0]
    if not idx.size:
        raise CalibrationWindowError(
            f"the scored window {_window_text(score)} holds no bar with realized liquidations after the "
            "map's first bar: nothing to score; choose a window the stored liquidations cover"
        )
    return idx


def _zone_crossings(
    run: HeatmapRun,
    grid: PriceGrid,
    px: _Prices,
    idx: np.ndarray,
    real_l: np.ndarray,
    real_s: np.ndarray,
    thr: dict[str, float],
    k: int,
    width_pct: float,
    n_controls: int,
    rng: np.random.Generator,
) -> _Crossings:
    """Per scored bar and side: the top ``k`` zones of the book one bar before, ``n_controls`` windows of
    the same width at 0.5–1.5× each zone's distance (not overlapping a zone), and which of them the
    bar's high–low range crossed; a crossing is a hit when the side's realized USD reaches its threshold.
    A crossing is attributed the realized USD in proportion to the share of the bar's range it covers."""
    out = _Crossings()
    edges, mids = grid.edges, grid.mids
    for t in idx:
        p = px.close[t - 1]
        wb = max(1, round(p * width_pct / 100.0 / grid.width))
        width = wb * grid.width
        rng_lo, rng_hi = px.low[t], px.high[t]
        span = max(rng_hi - rng_lo, 1e-12)
        for side, book_all, real in (
            ("long", run.out.grid_long[t - 1], real_l[t]),
            ("short", run.out.grid_short[t - 1], real_s[t]),
        ):
            hit = real >= thr[side]
            out.base_n += 1
            out.base_hits += int(hit)
            mask = mids <= p if side == "long" else mids > p
            zones = top_windows(np.where(mask, book_all, 0.0), wb, k)
            ranges = [(float(edges[a]), float(edges[b])) for a, b, _ in zones]
            for zlo, zhi in ranges:
                d = abs((zlo + zhi) / 2 - p)
                for _ in range(n_controls):
                    dc = d * rng.uniform(0.5, 1.5)
                    mid = p - dc if side == "long" else p + dc
                    clo, chi = mid - width / 2, mid + width / 2
                    if any(clo < b and a < chi for a, b in ranges):
                        continue
                    if rng_lo <= chi and rng_hi >= clo:
                        out.control_n += 1
                        out.control_hits += int(hit)
                        covered = max(0.0, min(chi, rng_hi) - max(clo, rng_lo))
                        out.control_events.append((int(t), real * covered / span))
                if rng_lo <= zhi and rng_hi >= zlo:
                    out.zone_n += 1
                    out.zone_hits += int(hit)
                    out.zone_events.append(
                        (int(t), real * max(0.0, min(zhi, rng_hi) - max(zlo, rng_lo)) / span)
                    )
    return out


def _magnet(
    run: HeatmapRun, grid: PriceGrid, px: _Prices, idx: np.ndarray, width_pct: float, horizon_bars: int
) -> tuple[int, int, int, int]:
    """The magnet test every ``horizon_bars`` scored bars: does price reach the near edge of the
    strongest zone before its mirror image about the last close, within ``horizon_bars``?

    Returns (zone first, decided, neither reached, both in one bar)."""
    mh = mn = neither = ties = 0
    edges, mids = grid.edges, grid.mids
    for t in idx[:: max(1, horizon_bars)]:
        if t + horizon_bars > len(run.ts_ms):
            break
        p = px.close[t - 1]
        wb = max(1, round(p * width_pct / 100.0 / grid.width))
        best = None
        for side, book_all in (("long", run.out.grid_long[t - 1]), ("short", run.out.grid_short[t - 1])):
            mask = mids <= p if side == "long" else mids > p
            z = top_windows(np.where(mask, book_all, 0.0), wb, 1)
            if z and (best is None or z[0][2] > best[1][2]):
                best = (side, z[0])
        if best is None:
            continue
        side, (a, b, _) = best
        target = float(edges[b]) if side == "long" else float(edges[a])  # near edge of the zone
        mirror = 2 * p - target
        up, down = (mirror, target) if side == "long" else (target, mirror)
        outcome = None
        for u in range(t, t + horizon_bars):
            hit_up, hit_down = px.high[u] >= up, px.low[u] <= down
            if hit_up and hit_down:
                outcome = "tie"
            elif hit_up or hit_down:
                outcome = "zone" if (hit_down if side == "long" else hit_up) else "mirror"
            if outcome:
                break
        if outcome is None:
            neither += 1
        elif outcome == "tie":
            ties += 1
        else:
            mn += 1
            mh += int(outcome == "zone")
    return mh, mn, neither, ties


def describe(model: Model) -> str:
    """A short label of a model's parameters."""
    hl = model.half_life_ms
    return (
        f"{model.name} v{model.version} mix={model.mix.name} side={model.side_rule} entry={model.entry_rule} "
        f"half_life={'none' if hl is None else f'{hl / 86_400_000:g}d'}"
    )


@dataclass(frozen=True, slots=True)
class Calibration:
    """Every candidate scored on the fit window, the chosen one, and its score on the later window."""

    fit_scores: tuple[Scores, ...]
    chosen: Model
    fit: Scores
    test: Scores

    def table(self) -> pl.DataFrame:
        """Fit-window scores of all candidates, best first: ``model, lift, zone_precision, control_...``."""
        rows = [
            (
                s.model,
                s.lift,
                s.zone_precision.rate,
                s.zone_precision.n,
                s.control_precision.rate,
                s.magnet.rate,
            )
            for s in self.fit_scores
        ]
        cols = ["model", "lift", "zone_precision", "zone_crossings", "control_precision", "magnet"]
        df = pl.DataFrame(rows, schema=cols, orient="row").fill_nan(None)
        return df.sort("lift", descending=True, nulls_last=True)


def calibrate(
    candidates: Sequence[Model],
    bars: pl.DataFrame,
    realized: pl.DataFrame,
    *,
    fit: tuple[int, int],
    test: tuple[int, int],
    burn_in_ms: int = 14 * 86_400_000,
    min_crossings: int = 20,
    **kw: object,
) -> Calibration:
    """Score every candidate on ``fit`` (after ``burn_in_ms``), choose the best lift (among candidates
    with at least ``min_crossings`` zone crossings), and score the choice on ``test`` — once."""
    if test[0] < fit[1]:
        raise ValueError("calibrate: the test window must start after the fit window ends")
    fit_win = (fit[0] + burn_in_ms, fit[1])
    if fit_win[0] >= fit_win[1]:
        raise CalibrationWindowError(
            f"the fit window {_window_text(fit)} is not longer than the {burn_in_ms / 86_400_000:g}-day "
            "burn-in (the book builds up before it is scored): nothing left to fit on"
        )
    scored = tuple(score_model(m, bars, realized, fit=fit, score=fit_win, **kw) for m in candidates)  # type: ignore[arg-type]
    ok = [i for i, s in enumerate(scored) if s.zone_precision.n >= min_crossings and not math.isnan(s.lift)]
    best = max(
        ok or range(len(scored)), key=lambda i: scored[i].lift if not math.isnan(scored[i].lift) else -1
    )
    chosen = candidates[best]
    test_s = score_model(chosen, bars, realized, fit=fit, score=test, **kw)  # type: ignore[arg-type]
    return Calibration(scored, chosen, scored[best], test_s)


def with_half_lives(models: Sequence[Model], half_lives_ms: Sequence[int | None]) -> list[Model]:
    """Each model once per half-life (``None`` = no decay; trade-flow needs a number)."""
    out: list[Model] = []
    for m in models:
        for h in half_lives_ms:
            if h is None and m.name == "trade-flow":
                continue
            out.append(replace(m, half_life_ms=h))  # type: ignore[arg-type]
    return out
