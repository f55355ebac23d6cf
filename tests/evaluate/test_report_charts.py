"""Charts of the evaluate reports: the figures carry the results' numbers; the HTML page holds them all.

Expected values come from the committed results files (docs/studies/*.json, written by the same CLI) and,
for the P&L paths, from the synthetic bars themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from perpscope.evaluate import parse_spec, run_study
from perpscope.report.evaluation import render_html, render_markdown
from perpscope.report.evaluation_charts import (
    brier_skill_figure,
    can_write_png,
    events_figure,
    hit_rate_figure,
    pnl_figure,
    settlement_figure,
    study_figures,
    write_pngs,
)

STUDIES = Path(__file__).resolve().parents[2] / "docs" / "studies"
H = 3_600_000
D = 24 * H


def _results(name: str) -> dict[str, Any]:
    return json.loads((STUDIES / f"{name}.json").read_text())  # type: ignore[no-any-return]


def _traces(fig: Any, name: str) -> list[Any]:
    return [t for t in fig.data if t.name == name]


def _close(a: Any, b: Any) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-12)


def test_event_chart_has_one_point_per_signal_and_horizon_with_the_ci_as_error_bars() -> None:
    events = _results("derivatives_signals")["events"]
    fig = events_figure(events)
    assert fig is not None
    means = _traces(fig, "mean forward return")
    signals = {e["signal"] for e in events}
    horizons = {e["horizon"] for e in events}
    assert len(means) == len(horizons) == 4  # 4h, 8h, 1d, 7d
    assert sum(len(t.x) for t in means) == len(signals) * len(horizons) == len(events)
    # traces go horizon by horizon, points in the results' order
    by_h = {h: [e for e in events if e["horizon"] == h] for h in dict.fromkeys(e["horizon"] for e in events)}
    for t, rows in zip(means, by_h.values(), strict=True):
        for x, plus, minus, text, e in zip(
            t.x, t.error_x.array, t.error_x.arrayminus, t.text, rows, strict=True
        ):
            assert _close(x, e["mean_ret"])
            assert _close(x + plus, e["ci_hi"]) and _close(x - minus, e["ci_lo"])
            assert text == f"n={e['n_events']}"
    base = _traces(fig, "unconditional mean, same window")
    assert [x for t in base for x in t.x] == [e["base_mean_ret"] for rows in by_h.values() for e in rows]


def test_walkforward_charts_carry_clopper_pearson_base_rate_and_brier_skill() -> None:
    variants = _results("claim_71pct")["variants"]
    assert len(variants) == 40  # 10 variants (prior included) × 4 horizons
    hit = hit_rate_figure(variants)
    assert hit is not None
    pts = _traces(hit, "hit rate")
    assert sum(len(t.x) for t in pts) == 40
    got = [
        (x, x - m, x + p)
        for t in pts
        for x, m, p in zip(t.x, t.error_x.arrayminus, t.error_x.array, strict=True)
    ]
    for (x, lo, hi), v in zip(got, variants, strict=True):
        assert (
            _close(x, v["hit_rate_indep"]) and abs(lo - v["hit_lo"]) < 1e-12 and abs(hi - v["hit_hi"]) < 1e-12
        )
    ticks = [x for t in _traces(hit, "majority-class rate") for x in t.x]
    assert ticks == [v["majority_rate_indep"] for v in variants]
    brier = brier_skill_figure(variants)
    assert brier is not None
    bars = _traces(brier, "Brier skill")
    assert [x for t in bars for x in t.x] == [v["brier_skill"] for v in variants]


def test_settlement_chart_band_is_the_welch_interval_around_the_control_mean() -> None:
    rows = _results("funding_settlement")["settlement"]
    fig = settlement_figure(rows)
    assert fig is not None
    bands, ctl = _traces(fig, "settlement, 95% interval"), _traces(fig, "other full hours (control)")
    assert len(bands) == len(ctl) == len({r["metric"] for r in rows}) == 4
    vol = sorted((r for r in rows if r["metric"] == "volume"), key=lambda r: r["offset_min"])
    band = bands[0].y  # upper edge forward, lower edge backward
    n = len(vol)
    assert list(ctl[0].x) == [r["offset_min"] for r in vol]
    for i, r in enumerate(vol):
        assert abs(band[i] - (r["control_mean"] + r["ci_hi"])) < 1e-12
        assert abs(band[2 * n - 1 - i] - (r["control_mean"] + r["ci_lo"])) < 1e-12


def _bars(n: int, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = np.concatenate([[close[0]], close[:-1]])
    return pl.DataFrame(
        {
            "venue": "t",
            "canonical": "X-USDT-PERP",
            "ts_ms": np.arange(n, dtype=np.int64) * H,
            "open": o,
            "high": np.maximum(o, close),
            "low": np.minimum(o, close),
            "close": close,
            "x": rng.normal(size=n),
        }
    ).with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))


def test_pnl_paths_end_at_the_rules_total_and_always_long_is_the_bars_return() -> None:
    panel = _bars(24 * 60)
    spec = parse_spec(
        {
            "name": "pnl",
            "dataset": "lake",
            "horizons": ["8h"],
            "walkforward": {
                "train_min": "20d",
                "test": "10d",
                "variants": [{"name": "x", "features": ["x"]}],
            },
            "costs": {"fee_bps": 5.0, "funding": False},
        }
    )
    res = run_study(spec, panel)
    path = res["pnl"]["8h"]["t/X-USDT-PERP"]
    fig = pnl_figure(res["pnl"])
    assert fig is not None
    for v in res["variants"]:  # mean net return × periods, as scored
        (line,) = _traces(fig, v["name"])
        assert len(path[v["name"]]) == v["trades"]
        assert abs(line.y[-1] - v["mean_net_ret"] * v["trades"]) < 1e-9
    # always long over [open of bar t+1, close of bar t+8] for every 8th forecast row, less 2 × 5 bps
    t0 = panel["ts_ms"].dt.epoch("ms").to_numpy()
    idx = np.searchsorted(t0, path["ts_ms"])
    o, c = panel["open"].to_numpy(), panel["close"].to_numpy()
    want = c[idx + 8] / o[idx + 1] - 1 - 2 * 5e-4
    assert np.allclose(path["always long"], want, rtol=0, atol=1e-12)
    (long,) = _traces(fig, "always long")
    assert abs(long.y[-1] - want.sum()) < 1e-9
    assert np.all(np.diff(path["ts_ms"]) == 8 * H)  # non-overlapping periods


def test_html_page_is_self_contained_with_every_chart_and_the_tables() -> None:
    result = _results("claim_71pct")
    figs = study_figures(result)
    assert set(figs) == {"hit_rate", "brier_skill"}  # the JSON holds no P&L paths
    page = render_html(result, result["data_notes"], figs)
    assert page.count('class="chart"') == 2
    assert 'id="chart-hit_rate"' in page and 'id="chart-brier_skill"' in page
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs()[:500] in page and "<script src=" not in page  # plotly.js inline: works offline
    assert "<table>" in page and "Trials logged" in page and "#chart-" not in page.replace('id="chart-', "")
    md = render_markdown(result, result["data_notes"], {"hit_rate": "claim_71pct_hit_rate.png"})
    assert "](claim_71pct_hit_rate.png)" in md
    assert md.replace(md[md.index("![") : md.index(".png)") + 7], "") == render_markdown(
        result, result["data_notes"]
    )  # the numbers and text are unchanged, only the image is added


@pytest.mark.skipif(not can_write_png(), reason="no chromium on PATH: kaleido cannot write PNG")
def test_png_is_written(tmp_path: Path) -> None:
    fig = settlement_figure(_results("funding_settlement")["settlement"])
    assert fig is not None
    out = write_pngs({"settlement": fig}, tmp_path, "fs")
    png = tmp_path / out["settlement"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
