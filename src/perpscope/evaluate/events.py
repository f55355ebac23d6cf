"""Event studies: what happened after a signal or a regime label, counted in independent events.

Point in time: a panel row ``t`` (bar open) uses what was known by the bar's end, so an event on row
``t`` is entered at the **open of bar t + 1** and held for the horizon ``h``: outcomes span
``[open(t+1), open(t+1) + h)``.

Independence: triggers closer than one horizon to the previous **kept** trigger are merged into it
(de-clustering), so a funding extreme that lasts ten bars counts once at a 24h horizon; the intervals are
Student t over these independent events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import polars as pl

from perpscope.core.time import interval_label
from perpscope.evaluate import stats

#: Panel columns an event study needs.
PRICE_COLUMNS = ("venue", "canonical", "ts_ms", "open", "high", "low", "close")


def _every_ms(panel: pl.DataFrame) -> int:
    t = panel.get_column("ts_ms").dt.epoch("ms")
    d = t.diff().drop_nulls()
    d = d.filter(d > 0)
    if d.len() == 0:
        raise ValueError("expected a panel with at least two bars per series; found one or none")
    return int(d.min())  # type: ignore[arg-type]


def forward_outcomes(panel: pl.DataFrame, horizons_ms: Sequence[int]) -> pl.DataFrame:
    """Forward return, realized volatility and drawdown after each bar, per horizon.

    Parameters
    ----------
    panel : polars.DataFrame
        One series or many (``venue, canonical``), gapless bars with ``ts_ms, open, high, low, close``.
    horizons_ms : sequence of int
        Holding periods, ms; each a multiple of the bar length.

    Returns
    -------
    polars.DataFrame
        The panel plus, per horizon label ``H`` (``1h``, ``8h``, ``1d``, ``7d`` …):
        ``ret_H`` = ``close(t+k) / open(t+1) − 1`` (k = h / bar; fraction), ``vol_H`` = √Σ of squared
        close-to-close log returns of bars t+1..t+k (fraction over the horizon), ``dd_H`` =
        ``min(low(t+1..t+k)) / open(t+1) − 1`` (≤ 0), ``past_ret_H`` = ``close(t) / close(t−k) − 1``
        (known at ``t``'s end). Null where the window runs past the data.
    """
    every = _every_ms(panel)
    by = ["venue", "canonical"]
    out = panel.sort([*by, "ts_ms"])
    lr = (pl.col("close") / pl.col("close").shift(1).over(by)).log()
    out = out.with_columns(lr.alias("_lr"))
    cols: list[pl.Expr] = []
    for h in horizons_ms:
        if h % every:
            raise ValueError(
                f"horizon {h} ms is not a multiple of the bar length {every} ms; pick one that is"
            )
        k = h // every
        lab = interval_label(h)
        entry = pl.col("open").shift(-1).over(by)
        exit_ = pl.col("close").shift(-k).over(by)
        # squared close-to-close log returns of bars t+1..t+k
        sq = (pl.col("_lr") ** 2).rolling_sum(k).shift(-k).over(by)
        low = pl.col("low").rolling_min(k).shift(-k).over(by)
        cols += [
            (exit_ / entry - 1).alias(f"ret_{lab}"),
            sq.sqrt().alias(f"vol_{lab}"),
            (low / entry - 1).alias(f"dd_{lab}"),
            (pl.col("close") / pl.col("close").shift(k).over(by) - 1).alias(f"past_ret_{lab}"),
        ]
    return out.with_columns(cols).drop("_lr")


def decluster(ts_ms: Sequence[int] | np.ndarray, gap_ms: int) -> np.ndarray:
    """Boolean mask keeping triggers at least ``gap_ms`` after the previous kept one (sorted input)."""
    t = np.asarray(ts_ms, dtype=np.int64)
    keep = np.zeros(t.size, dtype=bool)
    last = None
    for i, v in enumerate(t):
        if last is None or v - last >= gap_ms:
            keep[i] = True
            last = v
    return keep


@dataclass(frozen=True)
class EventRow:
    """One signal × horizon of an event study (returns and shares are fractions)."""

    signal: str
    horizon: str
    n_triggers: int
    n_events: int
    mean_ret: float
    ci_lo: float
    ci_hi: float
    median_ret: float
    hit_rate: float
    hit_lo: float
    hit_hi: float
    base_mean_ret: float
    base_hit_rate: float
    hit_pvalue: float
    hit_qvalue: float
    mean_vol: float
    base_mean_vol: float
    mean_dd: float
    base_mean_dd: float
    first_event_ms: int | None
    last_event_ms: int | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _nan_if_empty(x: np.ndarray, f: str = "mean") -> float:
    return math.nan if x.size == 0 else float(getattr(np, f)(x))


def event_study(
    outcomes: pl.DataFrame,
    signals: dict[str, pl.Expr],
    horizons_ms: Sequence[int],
    alpha: float = 0.05,
) -> list[EventRow]:
    """Average forward return, volatility and drawdown after each signal, against all bars of the window.

    Parameters
    ----------
    outcomes : polars.DataFrame
        :func:`forward_outcomes` of the panel (one or many series).
    signals : dict of name → boolean expression
        When each signal fires (evaluated on ``outcomes`` rows; nulls count as not firing).
    horizons_ms : sequence of int
        Must have been passed to :func:`forward_outcomes`.
    alpha : float
        1 − confidence level of the intervals.

    Returns
    -------
    list of EventRow
        Per signal and horizon: triggers, independent events (de-clustered per series at the horizon),
        the mean forward return with a t interval over the independent events, median, hit rate
        (return > 0) with its Clopper–Pearson interval, the exact binomial p-value against the base
        rate and its Benjamini–Hochberg q-value over every row of the table (all signals and horizons
        tried), and the same averages over **every** bar of the window the signal could fire in (bars
        where the signal's inputs are known) as the baseline.

    Notes
    -----
    The baseline is the unconditional outcome over the bars where the signal is defined, so a signal
    that only exists in a bull year is compared with that year, not with 2019–2026.
    """
    rows: list[EventRow] = []
    for name, expr in signals.items():
        f = outcomes.with_columns(expr.alias("_sig"))
        defined = f.filter(pl.col("_sig").is_not_null())
        for h in horizons_ms:
            base = defined.filter(pl.col(f"ret_{interval_label(h)}").is_not_null())
            rows.append(_event_row(name, h, base, alpha))
    q = stats.bh_adjust([r.hit_pvalue for r in rows])
    return [replace(r, hit_qvalue=float(qi)) for r, qi in zip(rows, q, strict=True)]


def _independent_events(trig: pl.DataFrame, horizon_ms: int) -> pl.DataFrame:
    """The triggers kept as independent events: de-clustered within each series at the horizon."""
    kept_parts = []
    for _, g in trig.group_by(["venue", "canonical"], maintain_order=True):
        g = g.sort("ts_ms")
        mask = decluster(g.get_column("ts_ms").dt.epoch("ms").to_numpy(), horizon_ms)
        kept_parts.append(g.filter(pl.Series(mask)))
    return pl.concat(kept_parts) if kept_parts else trig.head(0)


def _event_row(name: str, horizon_ms: int, base: pl.DataFrame, alpha: float) -> EventRow:
    """One signal at one horizon: its independent events against ``base``, every bar where the signal is
    defined and the outcome known (``hit_qvalue`` is filled in over the whole table afterwards)."""
    lab = interval_label(horizon_ms)
    rc, vc, dc = f"ret_{lab}", f"vol_{lab}", f"dd_{lab}"
    trig = base.filter(pl.col("_sig"))
    ev = _independent_events(trig, horizon_ms)
    r = ev.get_column(rc).to_numpy().astype(float)
    br = base.get_column(rc).to_numpy().astype(float)
    m, lo, hi = stats.mean_ci(r, alpha) if r.size else (math.nan, math.nan, math.nan)
    k = int(np.sum(r > 0))
    base_hit = float(np.mean(br > 0)) if br.size else math.nan
    hl, hh = stats.clopper_pearson(k, r.size, alpha)
    ts = ev.get_column("ts_ms").dt.epoch("ms")
    return EventRow(
        signal=name,
        horizon=lab,
        n_triggers=trig.height,
        n_events=int(r.size),
        mean_ret=m,
        ci_lo=lo,
        ci_hi=hi,
        median_ret=_nan_if_empty(r, "median"),
        hit_rate=k / r.size if r.size else math.nan,
        hit_lo=hl,
        hit_hi=hh,
        base_mean_ret=_nan_if_empty(br),
        base_hit_rate=base_hit,
        hit_pvalue=stats.binomial_pvalue(k, r.size, base_hit, "two-sided")
        if r.size and 0 < base_hit < 1
        else math.nan,
        hit_qvalue=math.nan,
        mean_vol=_nan_if_empty(ev.get_column(vc).drop_nulls().to_numpy()),
        base_mean_vol=_nan_if_empty(base.get_column(vc).drop_nulls().to_numpy()),
        mean_dd=_nan_if_empty(ev.get_column(dc).drop_nulls().to_numpy()),
        base_mean_dd=_nan_if_empty(base.get_column(dc).drop_nulls().to_numpy()),
        first_event_ms=int(ts.min()) if ts.len() else None,  # type: ignore[arg-type]
        last_event_ms=int(ts.max()) if ts.len() else None,  # type: ignore[arg-type]
    )


def label_signals(frame: pl.DataFrame, column: str) -> dict[str, pl.Expr]:
    """One signal per distinct non-null value of a label column (e.g. a regime label).

    A label fires on the bar where it **starts** (the previous bar of the series had another label), so
    a regime that lasts three days is one trigger, not 18.
    """
    labels = sorted(v for v in frame.get_column(column).drop_nulls().unique().to_list())
    prev = pl.col(column).shift(1).over(["venue", "canonical"])
    return {
        f"{column}={v}": pl.when(pl.col(column).is_null())
        .then(None)
        .otherwise((pl.col(column) == v) & (prev.is_null() | (prev != v)))
        for v in labels
    }
