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
from dataclasses import asdict
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


def _walk_forward(
    spec: StudySpec,
    frame: pl.DataFrame,
    horizons: list[int],
    bar: int,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    if not spec.variants:
        return {
            "variants": [],
            "trials": {"count": 0, "log": []},
            "snooping": [],
            "deflated_sharpe": None,
            "pnl": {},
        }
    variants = [(PRIOR_VARIANT, ())] + [(v.name, v.features) for v in spec.variants]
    feats = sorted({f for _, fs in variants for f in fs})
    missing = [f for f in feats if f not in frame.columns]
    if missing:
        from perpscope.core.errors import InputError

        raise InputError(
            spec.name,
            f"walk-forward features not in the panel: {missing}",
            hint=f"available columns: {', '.join(c for c in frame.columns if frame[c].dtype.is_numeric())}",
        )
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    snooping: list[dict[str, Any]] = []
    nets: dict[str, np.ndarray] = {}
    pnl: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    grosses: dict[str, np.ndarray] = {}
    for h in horizons:
        lab = interval_label(h)
        cfg = WalkForwardConfig(h, spec.train_min_ms, spec.test_ms, spec.rolling_ms, spec.embargo_ms)
        per_h: dict[str, np.ndarray] = {}
        per_h_gross: dict[str, np.ndarray] = {}
        for series, g in frame.group_by(["venue", "canonical"], maintain_order=True):
            common = g.drop_nulls([*feats, f"ret_{lab}"]).sort("ts_ms")
            if common.height < MIN_SERIES_ROWS:
                skipped.append(_skipped(series, lab, g, common, feats, f"fewer than {MIN_SERIES_ROWS} bars"))
                continue
            made = 0
            for i, (name, fs) in enumerate(variants, 1):
                say(f"walk-forward {interval_label(h)}: {name} ({i}/{len(variants)})")
                pred, coefs = predict(common, list(fs), cfg)
                if pred.height == 0:
                    continue
                made += 1
                res, net, gross = score(name, fs, pred, h, bar, spec.costs, coefficients=coefs)
                path = pnl.setdefault(lab, {}).setdefault("/".join(series), {})
                if not path:
                    path["ts_ms"], path["always long"] = rule_periods(pred, h, bar, spec.costs)
                path[name] = net
                d = res.as_dict() | {"series": list(series)}
                rows.append(d)
                key = f"{name}|{lab}|{series}"
                per_h[key] = net
                per_h_gross[key] = gross
                nets[key] = net
                grosses[key] = gross
            if not made:
                why = (
                    f"no test window: {MIN_TRAIN_ROWS} training bars and train_min "
                    f"({interval_label(spec.train_min_ms)}) before a {interval_label(spec.test_ms)} test "
                    "window do not fit in the usable bars"
                )
                skipped.append(_skipped(series, lab, g, common, feats, why))
        lengths = {len(v) for v in per_h.values()}
        if len(per_h) >= 2 and len(lengths) == 1 and next(iter(lengths)) >= 20:
            for what, rets in (("net", per_h), ("gross", per_h_gross)):
                say(f"reality check and SPA {lab} ({what} returns, {len(per_h)} models, 1000 resamples)")
                keys = list(rets)
                m = np.column_stack([-rets[k] for k in keys])
                rc = stats.reality_check(np.zeros(m.shape[0]), m, reps=1000, mean_block=5, seed=0)
                best = keys[int(np.argmax([rets[k].mean() for k in keys]))]
                snooping.append(
                    {"horizon": lab, "returns": what, "benchmark": "flat (no position)", "best": best}
                    | asdict(rc)
                )
    dsr = None
    if nets:
        sharpes = {k: stats.sharpe(v) for k, v in nets.items()}
        finite = {k: v for k, v in sharpes.items() if math.isfinite(v)}
        if len(finite) >= 2:
            best = max(finite, key=lambda k: finite[k])
            var = float(np.var(list(finite.values()), ddof=1))
            dsr = {
                "best": best,
                "sharpe_per_period": finite[best],
                "n_trials": len(nets),
                "trial_sharpe_var": var,
                "expected_max_sharpe": stats.expected_max_sharpe(len(nets), var),
                "dsr": stats.deflated_sharpe(nets[best], len(nets), var),
            }
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
    return {
        "variants": rows,
        "trials": trials,
        "snooping": snooping,
        "deflated_sharpe": dsr,
        "pnl": pnl,
    }
