"""Charts of an evaluation study (``perpscope evaluate``): plotly figures built from the results dict.

The numbers are in the report's tables; the charts only illustrate them. Each builder takes the part of
the results it draws (rows as written to ``<name>.json``) and returns a figure, or None when there is
nothing to draw:

- :func:`events_figure` — mean forward return per signal × horizon with its 95% t interval, against the
  unconditional mean of the same window, with the number of independent events;
- :func:`hit_rate_figure` — non-overlapping hit rate per variant with its Clopper–Pearson interval,
  against the majority-class rate of the test window;
- :func:`brier_skill_figure` — Brier skill against the training class prior (bars, zero line);
- :func:`pnl_figure` — cumulative net return of each variant's trading rule against always-long;
- :func:`settlement_figure` — the bar profile around funding settlements against control hours.

Returns are fractions, drawn with percent axes.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

#: Chart ids in report order, with the caption written under the heading that shows them.
CAPTIONS = {
    "events": "Mean forward return after each signal (95% t interval) against every bar of the same window",
    "hit_rate": "Hit rate on non-overlapping periods (95% Clopper–Pearson) against the majority class",
    "brier_skill": "Brier skill against the training class prior (> 0: better probabilities)",
    "pnl": "Cumulative net return of each variant's trading rule against always-long (same costs)",
    "settlement": "Around settlements vs other full hours (band: 95% Welch interval of the difference)",
}

_MEAN = "#1f4e9c"
_BASE = "#8a8f98"
_ROW_PX = 30
#: Points per P&L line drawn: the paths are thinned to this many (the last period is always kept).
MAX_PATH_POINTS = 1500


def _order(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _short(text: str, n: int = 48) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _err(mid: list[Any], lo: list[Any], hi: list[Any]) -> tuple[list[Any], list[Any]]:
    """Plotly's (plus, minus) error-bar arrays from an interval (None where any end is missing)."""
    plus = [None if None in (m, h) else h - m for m, h in zip(mid, hi, strict=True)]
    minus = [None if None in (m, lo_) else m - lo_ for m, lo_ in zip(mid, lo, strict=True)]
    return plus, minus


def _bars(plus: list[Any], minus: list[Any]) -> dict[str, Any]:
    return {"type": "data", "array": plus, "arrayminus": minus, "color": _MEAN, "thickness": 1.5}


def _per_horizon(rows: list[dict[str, Any]], height_rows: int, title: str) -> tuple[go.Figure, list[str]]:
    horizons = _order([r["horizon"] for r in rows])
    fig = make_subplots(
        rows=1, cols=len(horizons), shared_yaxes=True, subplot_titles=horizons, horizontal_spacing=0.025
    )
    height = max(320, 150 + _ROW_PX * height_rows)
    fig.update_layout(
        title=title,
        height=height,
        template="plotly_white",
        # legend 40 px under the plot area, below the tick labels, whatever the height
        legend={"orientation": "h", "y": -40 / (height - 150), "yanchor": "top", "x": 0},
        margin={"l": 10, "r": 20, "t": 80, "b": 70},
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig, horizons


#: The x range of an event panel is set by the signals with at least this many independent events (and
#: every mean): a 2-event interval spanning ±30% would otherwise flatten every other row.
FOCUS_MIN_EVENTS = 10


def _focus(rows: list[dict[str, Any]]) -> list[float] | None:
    vals = [r[k] for r in rows for k in ("mean_ret", "base_mean_ret") if r[k] is not None]
    vals += [r[k] for r in rows if r["n_events"] >= FOCUS_MIN_EVENTS for k in ("ci_lo", "ci_hi")]
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    lo, hi = min(0.0, *vals), max(0.0, *vals)
    pad = 0.08 * (hi - lo or 1e-3)
    return [lo - pad, hi + pad]


def _whiskers(
    rows: list[dict[str, Any]], mid: str, lo: str, hi: str
) -> tuple[list[Any], list[Any], list[Any]]:
    """Each row's point estimate (column ``mid``) and the error-bar lengths to its interval ``[lo, hi]``."""
    centre = [r[mid] for r in rows]
    plus, minus = _err(centre, [r[lo] for r in rows], [r[hi] for r in rows])
    return centre, plus, minus


def _add_base_ticks(fig: go.Figure, x: list[Any], y: list[str], name: str, hover: str, col: int) -> None:
    """The reference a row is read against (base rate, unconditional mean) as a grey tick per row."""
    fig.add_trace(
        go.Scatter(
            x=x, y=y, mode="markers", name=name,
            marker={"symbol": "line-ns-open", "size": 16, "color": _BASE, "line": {"width": 3}},
            legendgroup="base", showlegend=col == 1, hovertemplate=hover + "<extra></extra>",
        ),
        row=1, col=col,
    )  # fmt: skip


def _dots_against_base(
    fig: go.Figure,
    rows: list[dict[str, Any]],
    y: list[str],
    col: int,
    estimate: tuple[str, str, str],
    base: tuple[str, str, str],
    **dots: Any,
) -> None:
    """One panel of a dot-and-whisker chart: the reference each row is read against as a grey tick
    (``base``: its column, legend name and hover), then each row's point estimate with the whiskers of
    its interval (``estimate``: the point, low and high columns); ``dots`` are the dots' own name, text
    and hover."""
    mid, plus, minus = _whiskers(rows, *estimate)
    base_col, base_name, base_hover = base
    _add_base_ticks(fig, [r[base_col] for r in rows], y, base_name, base_hover, col)
    fig.add_trace(
        go.Scatter(
            x=mid, y=y, error_x=_bars(plus, minus), marker={"color": _MEAN, "size": 8},
            showlegend=col == 1, **dots,
        ),
        row=1, col=col,
    )  # fmt: skip


def events_figure(events: list[dict[str, Any]]) -> go.Figure | None:
    """Dot-and-whisker: mean forward return per signal (rows) and horizon (panels), 95% t interval,
    the same window's unconditional mean as a grey tick, and ``n`` = independent events beside each dot.

    One point per row of ``events`` (``result["events"]``), in the trace named ``mean forward return``.
    """
    if not events:
        return None
    n_sig = len(_order([e["signal"] for e in events]))
    fig, horizons = _per_horizon(
        events,
        n_sig,
        "Mean forward return after each signal, 95% t interval (n = independent events; "
        f"whiskers of signals with n < {FOCUS_MIN_EVENTS} may run off the panel)",
    )
    for col, h in enumerate(horizons, start=1):
        rows = [e for e in events if e["horizon"] == h]
        y = [_short(e["signal"]) for e in rows]
        _dots_against_base(
            fig, rows, y, col, ("mean_ret", "ci_lo", "ci_hi"),
            ("base_mean_ret", "unconditional mean, same window", "%{y}<br>base %{x:.2%}"),
            mode="markers+text", name="mean forward return",
            text=[f"n={e['n_events']}" for e in rows],
            textposition="top center", textfont={"size": 9, "color": "#555"},
            customdata=[[e["n_events"], e["n_triggers"]] for e in rows], legendgroup="mean",
            hovertemplate="%{y}<br>mean %{x:.2%}<br>%{customdata[0]} events "
            "(%{customdata[1]} triggers)<extra></extra>",
        )  # fmt: skip
        fig.add_vline(x=0, line={"color": "#bbb", "width": 1}, row=1, col=col)
        fig.update_xaxes(range=_focus(rows), row=1, col=col)
    fig.update_xaxes(tickformat=".1%", zeroline=False)
    return fig


def _variant_label(v: dict[str, Any], many_series: bool) -> str:
    name = _short(v["name"], 36)
    return f"{name} · {v['series'][1]}" if many_series and v.get("series") else name


def _many_series(variants: list[dict[str, Any]]) -> bool:
    return len({tuple(v.get("series") or ()) for v in variants}) > 1


def _variant_panels(variants: list[dict[str, Any]], title: str) -> tuple[go.Figure, list[str], bool]:
    """A panel per horizon with a row per variant (labelled with its series when there are several:
    the third value says so)."""
    many = _many_series(variants)
    n_rows = len(_order([_variant_label(v, many) for v in variants]))
    fig, horizons = _per_horizon(variants, n_rows, title)
    return fig, horizons, many


def hit_rate_figure(variants: list[dict[str, Any]]) -> go.Figure | None:
    """Hit rate on non-overlapping periods per variant (rows) and horizon (panels) with its 95%
    Clopper–Pearson interval, and the test window's majority-class rate as a grey tick.

    One point per row of ``variants`` (``result["variants"]``), in the trace named ``hit rate``.
    """
    if not variants:
        return None
    fig, horizons, many = _variant_panels(
        variants, "Hit rate on non-overlapping periods, 95% Clopper–Pearson, vs majority class"
    )
    for ann, h in zip(fig.layout.annotations, horizons, strict=True):
        ns = sorted({v["n_indep"] for v in variants if v["horizon"] == h})
        ann.text = f"{h} (n = {', '.join(f'{n:,}' for n in ns)} periods)"
    for col, h in enumerate(horizons, start=1):
        rows = [v for v in variants if v["horizon"] == h]
        y = [_variant_label(v, many) for v in rows]
        _dots_against_base(
            fig, rows, y, col, ("hit_rate_indep", "hit_lo", "hit_hi"),
            ("majority_rate_indep", "majority-class rate", "majority %{x:.1%}"),
            mode="markers", name="hit rate",
            customdata=[[v["hits_indep"], v["n_indep"]] for v in rows], legendgroup="hit",
            hovertemplate="%{y}<br>hit %{x:.1%} (%{customdata[0]}/%{customdata[1]})<extra></extra>",
        )  # fmt: skip
        fig.add_vline(x=0.5, line={"color": "#ddd", "width": 1}, row=1, col=col)
    fig.update_xaxes(tickformat=".0%")
    return fig


def brier_skill_figure(variants: list[dict[str, Any]]) -> go.Figure | None:
    """Brier skill ``1 − Brier / Brier(prior)`` per variant (bars) and horizon (panels), zero line.

    One bar per row of ``variants``, in the trace named ``Brier skill``.
    """
    if not variants:
        return None
    fig, horizons, many = _variant_panels(
        variants, "Brier skill against the training class prior (> 0: better probabilities)"
    )
    for col, h in enumerate(horizons, start=1):
        rows = [v for v in variants if v["horizon"] == h]
        x = [v["brier_skill"] for v in rows]
        fig.add_trace(
            go.Bar(
                x=x, y=[_variant_label(v, many) for v in rows], orientation="h", name="Brier skill",
                marker={"color": ["#2e7d32" if (s or 0) > 0 else "#c62828" for s in x]},
                text=["–" if s is None else f"{s:+.4f}" for s in x], textposition="outside",
                textfont={"size": 9}, cliponaxis=False, showlegend=False,
                hovertemplate="%{y}<br>Brier skill %{x:+.4f}<extra></extra>",
            ),
            row=1, col=col,
        )  # fmt: skip
        fig.add_vline(x=0, line={"color": "#333", "width": 1}, row=1, col=col)
        vals = [s for s in x if s is not None] or [0.0]
        lo, hi = min(0.0, *vals), max(0.0, *vals)
        pad = 0.35 * (hi - lo or 1e-3)  # room for the value labels outside the bars
        fig.update_xaxes(range=[lo - (pad if lo < 0 else 0.1 * pad), hi + pad], row=1, col=col)
    fig.update_xaxes(zeroline=False)
    return fig


def _thin(n: int, most: int = MAX_PATH_POINTS) -> np.ndarray:
    """Indices of at most ``most`` evenly spread points of ``n``, the last one included."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.concatenate([np.linspace(0, n - 1, most).round().astype(int), [n - 1]]))


def pnl_figure(pnl: dict[str, dict[str, dict[str, Any]]]) -> go.Figure | None:
    """Cumulative net return (sum of per-period returns, not compounded) of each variant's trading rule
    and of always-long, one panel per horizon, on the non-overlapping periods (``result["pnl"]``).

    With several series only the first is drawn (the panel title names it). Lines are thinned to
    :data:`MAX_PATH_POINTS` points; their last value is the exact total.
    """
    horizons = [h for h, by in pnl.items() if by]
    if not horizons:
        return None
    cols = 2 if len(horizons) > 1 else 1
    nrows = -(-len(horizons) // cols)
    titles = []
    for h in horizons:
        series = list(pnl[h])
        more = f" (first of {len(series)} series)" if len(series) > 1 else ""
        titles.append(f"{h}: {series[0]}{more}")
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=titles, vertical_spacing=0.1)
    names = _order([k for h in horizons for k in next(iter(pnl[h].values())) if k not in ("ts_ms",)])
    palette = qualitative.Plotly + qualitative.D3
    colors = {n: palette[i % len(palette)] for i, n in enumerate(n for n in names if n != "always long")}
    for i, h in enumerate(horizons):
        path = next(iter(pnl[h].values()))
        ts = np.asarray(path["ts_ms"], dtype="int64")
        keep = _thin(len(ts))
        x = ts[keep].astype("datetime64[ms]")
        for name in [n for n in path if n != "ts_ms"]:
            cum = np.cumsum(np.asarray(path[name], dtype=float))[keep]
            long = name == "always long"
            fig.add_trace(
                go.Scatter(
                    x=x, y=cum, mode="lines", name=name, legendgroup=name, showlegend=i == 0,
                    line={"color": "#111" if long else colors[name], "width": 2.5 if long else 1.3,
                          "dash": "dash" if long else "solid"},
                    hovertemplate=f"{name}<br>%{{x|%Y-%m-%d %H:%M}}<br>%{{y:.1%}}<extra></extra>",
                ),
                row=i // cols + 1, col=i % cols + 1,
            )  # fmt: skip
    fig.update_yaxes(tickformat=".0%", zeroline=True, zerolinecolor="#999")
    fig.update_layout(
        title="Cumulative net return of the trading rule (sum over non-overlapping periods, after costs)",
        height=120 + 330 * nrows,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.06, "yanchor": "top", "x": 0, "font": {"size": 10}},
        margin={"l": 10, "r": 20, "t": 80, "b": 40},
    )
    return fig


_SETTLE_TITLES = {
    "volume": "volume (USD) ÷ the same hour's bars 60–30 min before",
    "trades": "trade count ÷ the same hour's bars 60–30 min before",
    "abs_ret": "|log(close/open)| ÷ the same hour's bars 60–30 min before",
    "taker_buy_share": "taker-buy share of volume",
}


def settlement_figure(rows: list[dict[str, Any]]) -> go.Figure | None:
    """Per metric (panels): control-hour mean and settlement-hour mean by bar offset from the hour; the
    band is the control mean plus the 95% Welch interval of the difference (it excludes the grey line
    where the difference is significant at 5%, before correcting for the many offsets)."""
    if not rows:
        return None
    metrics = _order([r["metric"] for r in rows])
    cols = 2 if len(metrics) > 1 else 1
    nrows = -(-len(metrics) // cols)
    titles = [_SETTLE_TITLES.get(m, m) for m in metrics]
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=titles, vertical_spacing=0.14)
    for i, m in enumerate(metrics):
        rs = sorted((r for r in rows if r["metric"] == m), key=lambda r: r["offset_min"])
        x = [r["offset_min"] for r in rs]
        ctl = [r["control_mean"] for r in rs]
        lo = [None if None in (c, r["ci_lo"]) else c + r["ci_lo"] for c, r in zip(ctl, rs, strict=True)]
        hi = [None if None in (c, r["ci_hi"]) else c + r["ci_hi"] for c, r in zip(ctl, rs, strict=True)]
        at = {"row": i // cols + 1, "col": i % cols + 1}
        first = i == 0
        fig.add_trace(
            go.Scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor="rgba(198,40,40,0.15)",
                       line={"width": 0}, name="settlement, 95% interval", legendgroup="band",
                       showlegend=first, hoverinfo="skip"),
            **at,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=x, y=ctl, mode="lines+markers", name="other full hours (control)",
                       line={"color": _BASE}, legendgroup="ctl", showlegend=first),
            **at,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=x, y=[r["settle_mean"] for r in rs], mode="lines+markers",
                       name="settlement hours", line={"color": "#c62828"}, legendgroup="set",
                       showlegend=first),
            **at,
        )  # fmt: skip
        fig.add_vline(x=0, line={"color": "#555", "width": 1, "dash": "dot"}, **at)
    fig.update_xaxes(title_text="bar start, minutes from the hour", dtick=5)
    fig.update_layout(
        title="Around funding settlements vs other full hours (mean per bar offset)",
        height=120 + 330 * nrows,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.1, "yanchor": "top", "x": 0},
        margin={"l": 10, "r": 20, "t": 80, "b": 40},
    )
    return fig


def study_figures(result: dict[str, Any]) -> dict[str, go.Figure]:
    """Every chart the results hold, by id (the keys of :data:`CAPTIONS`, in report order)."""
    variants = result.get("variants") or []
    figs = {
        "events": events_figure(result.get("events") or []),
        "hit_rate": hit_rate_figure(variants),
        "brier_skill": brier_skill_figure(variants),
        "pnl": pnl_figure(result.get("pnl") or {}),
        "settlement": settlement_figure(result.get("settlement") or []),
    }
    return {k: f for k, f in figs.items() if f is not None}


def can_write_png() -> bool:
    """kaleido drives a local Chromium (Debian's ``chromium``); without one no PNG can be written."""
    return shutil.which("chromium") is not None


def write_pngs(figs: dict[str, go.Figure], out_dir: Path, name: str, width: int = 1300) -> dict[str, str]:
    """Write each figure as ``<out_dir>/<name>_<id>.png``; returns id → file name (relative to out_dir)."""
    import plotly.io as pio

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {key: f"{name}_{key}.png" for key in figs}
    # one Chromium session for all (write_image would start one per figure, ~4 s each)
    pio.write_images(
        list(figs.values()),
        [out_dir / f for f in written.values()],
        width=width,
        height=[f.layout.height or 600 for f in figs.values()],
    )
    return written
