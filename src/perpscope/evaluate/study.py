"""Run a study spec on a panel: event studies, walk-forward variants, trial log and snooping correction.

Python API for custom signals::

    from perpscope.evaluate import run_study, parse_spec
    spec = parse_spec({"name": "mine", "dataset": "lake", "horizons": ["1d"],
                       "events": {"signals": [{"name": "z>2", "when": "funding_z > 2"}]}})
    result = run_study(spec, panel)          # a dict, JSON-ready; render with perpscope.report

Every variant the walk-forward scores is a **trial** and is logged (``result["trials"]``); the
multiple-testing correction (White's reality check, Hansen's SPA per horizon, and the deflated Sharpe
of the best variant) counts them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from perpscope.core.format import json_safe
from perpscope.core.time import interval_label
from perpscope.evaluate import stats
from perpscope.evaluate.events import event_study, forward_outcomes, label_signals
from perpscope.evaluate.spec import StudySpec
from perpscope.evaluate.walkforward import MIN_TRAIN_ROWS, WalkForwardConfig, predict, rule_periods, score

#: Always-present reference variant: the training window's class prior (no features).
PRIOR_VARIANT = "class prior (no features)"


def _bar_ms(panel: pl.DataFrame) -> int:
    d = panel.get_column("ts_ms").dt.epoch("ms").diff().drop_nulls()
    return int(d.filter(d > 0).min())  # type: ignore[arg-type]


def with_bar_returns(panel: pl.DataFrame) -> pl.DataFrame:
    """``panel`` with ``bar_ret`` (the bar's own return, close / open − 1), the price-only feature
    every study may use, when it has none."""
    if "bar_ret" in panel.columns:
        return panel
    return panel.with_columns((pl.col("close") / pl.col("open") - 1).alias("bar_ret"))


def run_study(
    spec: StudySpec,
    panel: pl.DataFrame,
    labels: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the event studies and walk-forward variants of ``spec`` on ``panel``.

    Parameters
    ----------
    spec : StudySpec
    panel : polars.DataFrame
        :func:`perpscope.metrics.build_panel` output (one or many series), gapless bars.
    labels : polars.DataFrame, optional
        Extra label columns joined on ``venue, canonical, ts_ms`` (e.g. ``perpscope.regimes.classify``).
    progress : callable, optional
        Called with a short line as each stage starts (``walk-forward 4h: funding (3/40)``).

    Returns
    -------
    dict
        ``spec``, ``data`` (rows, series, span), ``events`` (rows of
        :class:`~perpscope.evaluate.events.EventRow`), ``variants`` (rows of
        :class:`~perpscope.evaluate.walkforward.VariantResult`), ``trials`` (count and log),
        ``snooping`` (per horizon), ``deflated_sharpe`` — NaN written as null — and ``pnl``: per
        horizon and series (``venue/canonical``), numpy arrays of the trading rule's non-overlapping
        periods: ``ts_ms``, the net return of every variant (by name) and of ``always long`` (for
        charts; not JSON, drop it before writing).
    """
    if labels is not None:
        panel = panel.join(labels, on=["venue", "canonical", "ts_ms"], how="left")
    panel = with_bar_returns(panel)
    if spec.start or spec.end:
        from perpscope.core.time import parse_time_ms

        t = pl.col("ts_ms").dt.epoch("ms")
        panel = panel.filter(
            (t >= parse_time_ms(spec.start) if spec.start else pl.lit(True))
            & (t < parse_time_ms(spec.end) if spec.end else pl.lit(True))
        )
    bar = _bar_ms(panel)
    horizons = [h for h in spec.horizons_ms if h % bar == 0]
    skipped = [interval_label(h) for h in spec.horizons_ms if h % bar]
    out_frame = forward_outcomes(panel, horizons)
    ts = panel.get_column("ts_ms").dt.epoch("ms")
    result: dict[str, Any] = {
        "spec": {k: v for k, v in asdict(spec).items() if k != "signals"}
        | {"signals": [asdict(s) for s in spec.signals]},
        "data": {
            "rows": panel.height,
            "series": panel.select("venue", "canonical").unique().sort("venue", "canonical").rows(),
            "bar": interval_label(bar),
            "first_ms": int(ts.min()) if ts.len() else None,  # type: ignore[arg-type]
            "last_ms": int(ts.max()) if ts.len() else None,  # type: ignore[arg-type]
            "horizons_skipped": skipped,
        },
    }
    signals: dict[str, pl.Expr] = {}
    missing: dict[str, list[str]] = {}
    for s in spec.signals:
        e = s.expr()
        absent = [c for c in e.meta.root_names() if c not in panel.columns]
        if absent:
            missing[s.name] = absent
        else:
            signals[s.name] = e
    if missing:
        result["data"]["signals_missing_columns"] = missing
    if spec.label_column:
        if spec.label_column in panel.columns:
            signals |= label_signals(panel, spec.label_column)
        else:
            result["data"]["label_column_missing"] = spec.label_column
    say = progress or (lambda _: None)
    say(f"event study: {len(signals)} signal(s) × {len(horizons)} horizon(s)")
    result["events"] = [r.as_dict() for r in event_study(out_frame, signals, horizons)] if signals else []
    result |= _walk_forward(spec, out_frame, horizons, bar, say)
    return json_safe(result)


#: Bars a series needs with every feature and the outcome before it is walked forward at a horizon.
MIN_SERIES_ROWS = 50


def _skipped(
    series: tuple[Any, ...], horizon: str, g: pl.DataFrame, common: pl.DataFrame, feats: list[str], why: str
) -> dict[str, Any]:
    """Why a series was not scored at a horizon: its bars, the bars with every feature and the outcome
    (``usable``), and per feature the bars that have a value."""
    return {
        "series": list(series),
        "horizon": horizon,
        "bars": g.height,
        "usable": common.height,
        "reason": why,
        "feature_values": {f: int(g.get_column(f).is_not_null().sum()) for f in feats},
    }


Variant = tuple[str, tuple[str, ...]]


@dataclass
class _Trials:
    """What the walk-forward gathers over horizons and series: each scored variant's row (a trial), the
    series it skipped and why, the snooping tests per horizon, each trial's net returns per period
    (by ``name|horizon|series``) and the P&L paths of the charts (horizon → series → name → returns)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    snooping: list[dict[str, Any]] = field(default_factory=list)
    nets: dict[str, np.ndarray] = field(default_factory=dict)
    pnl: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)


def _walk_forward(
    spec: StudySpec,
    frame: pl.DataFrame,
    horizons: list[int],
    bar: int,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every variant of ``spec`` (and the class prior) walked forward on every series at every horizon
    (``bar``: bar length, ms), with the multiple-testing correction over all of them."""
    if not spec.variants:
        return {
            "variants": [],
            "trials": {"count": 0, "log": []},
            "snooping": [],
            "deflated_sharpe": None,
            "pnl": {},
        }
    variants: list[Variant] = [(PRIOR_VARIANT, ())] + [(v.name, v.features) for v in spec.variants]
    feats = sorted({f for _, fs in variants for f in fs})
    _require_features(spec, frame, feats)
    t = _Trials()
    for h in horizons:
        _walk_horizon(t, spec, frame, variants, feats, h, bar, say)
    dsr = _deflated_sharpe(t.nets)
    trials = _trial_log(t.rows, t.skipped)
    return {
        "variants": t.rows,
        "trials": trials,
        "snooping": t.snooping,
        "deflated_sharpe": dsr,
        "pnl": t.pnl,
    }


def _require_features(spec: StudySpec, frame: pl.DataFrame, feats: list[str]) -> None:
    """An :class:`~perpscope.core.errors.InputError` naming the features the panel lacks, if any."""
    missing = [f for f in feats if f not in frame.columns]
    if missing:
        from perpscope.core.errors import InputError

        raise InputError(
            spec.name,
            f"walk-forward features not in the panel: {missing}",
            hint=f"available columns: {', '.join(c for c in frame.columns if frame[c].dtype.is_numeric())}",
        )


def _walk_horizon(
    t: _Trials,
    spec: StudySpec,
    frame: pl.DataFrame,
    variants: list[Variant],
    feats: list[str],
    h: int,
    bar: int,
    say: Callable[[str], None],
) -> None:
    """One horizon ``h`` (ms): every series walked forward, then the snooping tests over its trials."""
    lab = interval_label(h)
    cfg = WalkForwardConfig(h, spec.train_min_ms, spec.test_ms, spec.rolling_ms, spec.embargo_ms)
    net: dict[str, np.ndarray] = {}
    gross: dict[str, np.ndarray] = {}
    for series, g in frame.group_by(["venue", "canonical"], maintain_order=True):
        _walk_series(t, spec, series, g, variants, feats, cfg, bar, say, net, gross)
    t.nets |= net
    t.snooping += _snooping(lab, net, gross, say)


def _walk_series(
    t: _Trials,
    spec: StudySpec,
    series: tuple[Any, ...],
    g: pl.DataFrame,
    variants: list[Variant],
    feats: list[str],
    cfg: WalkForwardConfig,
    bar: int,
    say: Callable[[str], None],
    net: dict[str, np.ndarray],
    gross: dict[str, np.ndarray],
) -> None:
    """Every variant on one series ``g`` at the horizon of ``cfg``: rows and paths into ``t``, each
    trial's net and gross returns into ``net`` and ``gross``; a series too short is recorded as skipped."""
    h = cfg.horizon_ms
    lab = interval_label(h)
    common = g.drop_nulls([*feats, f"ret_{lab}"]).sort("ts_ms")
    if common.height < MIN_SERIES_ROWS:
        t.skipped.append(_skipped(series, lab, g, common, feats, f"fewer than {MIN_SERIES_ROWS} bars"))
        return
    made = 0
    for i, (name, fs) in enumerate(variants, 1):
        say(f"walk-forward {interval_label(h)}: {name} ({i}/{len(variants)})")
        pred, coefs = predict(common, list(fs), cfg)
        if pred.height == 0:
            continue
        made += 1
        res, n, gr = score(name, fs, pred, h, bar, spec.costs, coefficients=coefs)
        path = t.pnl.setdefault(lab, {}).setdefault("/".join(series), {})
        if not path:
            path["ts_ms"], path["always long"] = rule_periods(pred, h, bar, spec.costs)
        path[name] = n
        t.rows.append(res.as_dict() | {"series": list(series)})
        key = f"{name}|{lab}|{series}"
        net[key] = n
        gross[key] = gr
    if not made:
        why = (
            f"no test window: {MIN_TRAIN_ROWS} training bars and train_min "
            f"({interval_label(spec.train_min_ms)}) before a {interval_label(spec.test_ms)} test "
            "window do not fit in the usable bars"
        )
        t.skipped.append(_skipped(series, lab, g, common, feats, why))


def _snooping(
    lab: str, net: dict[str, np.ndarray], gross: dict[str, np.ndarray], say: Callable[[str], None]
) -> list[dict[str, Any]]:
    """White's reality check and Hansen's SPA of one horizon's trials against staying flat, on net and
    on gross returns — when there are two or more trials of one common length of at least 20 periods."""
    lengths = {len(v) for v in net.values()}
    if not (len(net) >= 2 and len(lengths) == 1 and next(iter(lengths)) >= 20):
        return []
    out = []
    for what, rets in (("net", net), ("gross", gross)):
        say(f"reality check and SPA {lab} ({what} returns, {len(net)} models, 1000 resamples)")
        keys = list(rets)
        m = np.column_stack([-rets[k] for k in keys])
        rc = stats.reality_check(np.zeros(m.shape[0]), m, reps=1000, mean_block=5, seed=0)
        best = keys[int(np.argmax([rets[k].mean() for k in keys]))]
        head = {"horizon": lab, "returns": what, "benchmark": "flat (no position)", "best": best}
        out.append(head | asdict(rc))
    return out


def _deflated_sharpe(nets: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """The deflated Sharpe ratio of the best trial (by per-period Sharpe) among all ``nets``; None with
    fewer than two finite Sharpe ratios."""
    if not nets:
        return None
    sharpes = {k: stats.sharpe(v) for k, v in nets.items()}
    finite = {k: v for k, v in sharpes.items() if math.isfinite(v)}
    if len(finite) < 2:
        return None
    best = max(finite, key=lambda k: finite[k])
    var = float(np.var(list(finite.values()), ddof=1))
    return {
        "best": best,
        "sharpe_per_period": finite[best],
        "n_trials": len(nets),
        "trial_sharpe_var": var,
        "expected_max_sharpe": stats.expected_max_sharpe(len(nets), var),
        "dsr": stats.deflated_sharpe(nets[best], len(nets), var),
    }


def _trial_log(rows: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> dict[str, Any]:
    """Every trial counted and logged; each row gains ``pt_q``, its Benjamini–Hochberg q-value over all
    trials' Pesaran–Timmermann p-values."""
    q = stats.bh_adjust([r["pt_p"] if r["pt_p"] is not None else math.nan for r in rows])
    for r, qi in zip(rows, q, strict=True):
        r["pt_q"] = float(qi)
    log = [
        {
            k: r[k]
            for k in ("name", "features", "horizon", "series", "n", "hit_rate", "brier_skill", "sharpe_ann")
        }
        for r in rows
    ]
    trials: dict[str, Any] = {"count": len(rows), "log": log}
    if skipped:
        trials["skipped"] = skipped
    return trials
