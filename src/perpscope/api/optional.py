"""Views over packages that may not be installed yet (regimes, cascade): each answers
``{"available": False, "reason": ...}`` when its package or function is absent, so the dashboard hides
the panel instead of failing."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import polars as pl


def _function(module: str, names: tuple[str, ...]) -> Callable[..., Any] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    for n in names:
        f = getattr(mod, n, None)
        if callable(f):
            return f
    return None


def _text(x: Any) -> str:
    if isinstance(x, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in x.items())
    if isinstance(x, float):
        return f"{x:.4g}"
    return "" if x is None else str(x)


def regimes_view(panel: pl.DataFrame) -> dict[str, Any]:
    """Regime runs of the panel: ``start_ms, end_ms, regime, evidence`` (text) per run of equal labels."""
    classify = _function("perpscope.regimes", ("classify",))
    if classify is None:
        return {"available": False, "reason": "perpscope.regimes.classify is not installed"}
    if panel.is_empty():
        return {"available": False, "reason": "no bars in this range"}
    try:
        labels = classify(panel)
    except Exception as e:  # a classifier that cannot read this panel: hide the band, say why
        return {"available": False, "reason": f"regimes.classify failed: {e}"}
    if not isinstance(labels, pl.DataFrame) or not {"ts_ms", "regime"} <= set(labels.columns):
        return {"available": False, "reason": "regimes.classify returned no ts_ms/regime columns"}
    step = int(panel.get_column("interval_ms")[0])
    lab = labels.sort("ts_ms").with_columns(pl.col("ts_ms").cast(pl.Int64, strict=False).alias("_t"))
    if isinstance(labels.schema["ts_ms"], pl.Datetime):
        lab = lab.with_columns(pl.col("ts_ms").dt.epoch("ms").alias("_t"))
    runs: list[dict[str, Any]] = []
    ev_col = "evidence" in lab.columns
    for r in lab.iter_rows(named=True):
        reg = str(r["regime"])
        if runs and runs[-1]["regime"] == reg and runs[-1]["end_ms"] == r["_t"]:
            runs[-1]["end_ms"] = r["_t"] + step
            continue
        runs.append(
            {
                "start_ms": r["_t"],
                "end_ms": r["_t"] + step,
                "regime": reg,
                "evidence": _text(r["evidence"]) if ev_col else "",
            }
        )
    return {"available": True, "runs": runs}


#: Computes the cascade fragility table for ``(venue, canonical, end_ms)``; given by the composition root
#: (``perpscope serve``/``report``), which knows how to build position books and liquidity from a store.
CascadeProvider = Callable[[str, str, int], pl.DataFrame]


def cascade_view(provider: CascadeProvider | None, venue: str, canonical: str, end_ms: int) -> dict[str, Any]:
    """The cascade fragility curve at ``end_ms``: numeric columns sorted by shock (first = ``shock_pct``)."""
    if provider is None:
        return {"available": False, "reason": "no cascade model configured for this server"}
    try:
        out = provider(venue, canonical, end_ms)
    except Exception as e:  # a model that cannot run on this symbol's data: hide the panel, say why
        return {"available": False, "reason": f"cascade fragility curve failed: {e}"}
    if not isinstance(out, pl.DataFrame) or out.is_empty():
        return {"available": False, "reason": "the fragility curve returned no rows"}
    if "shock_pct" in out.columns:
        out = out.sort("shock_pct")
        keep = ["shock_pct", *[c for c in ("liq_usd_p10", "liq_usd_p50", "liq_usd_p90") if c in out.columns]]
        out = out.select(keep)
    num = [c for c, t in out.schema.items() if t.is_numeric()]
    return {"available": True, "columns": {c: out.get_column(c).fill_nan(None).to_list() for c in num}}
