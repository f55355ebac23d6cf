"""The regime band and the heatmap section of the HTML page, from hand-made inputs."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from perpscope.core.palette import REGIME_COLOURS
from perpscope.regimes import LABELS
from perpscope.report.html import heatmap_html
from perpscope.report.regime_band import add_regime_band, band_traces

H = 3_600_000
T0 = 1_780_000_000_000 // (4 * H) * (4 * H)


def _episodes() -> pl.DataFrame:
    # three back-to-back episodes: 8h neutral, 4h flush, 12h neutral
    starts = [T0, T0 + 8 * H, T0 + 12 * H]
    ends = [T0 + 8 * H, T0 + 12 * H, T0 + 24 * H]
    return pl.DataFrame(
        {
            "venue": ["binance"] * 3,
            "canonical": ["BTC-USDT-PERP"] * 3,
            "regime": ["neutral", "deleveraging_flush", "neutral"],
            "start_ms": starts,
            "end_ms": ends,
            "bars": [2, 1, 3],
            "evidence": ["calm", "price -3.0% / 1d, OI -5.0% / 1d & <longs>", "calm again"],
        }
    ).with_columns(pl.col("start_ms", "end_ms").cast(pl.Datetime("ms", "UTC")))


def test_one_trace_per_label_in_precedence_order_with_exact_spans() -> None:
    traces = band_traces(_episodes())
    assert [t.name for t in traces] == ["deleveraging flush", "neutral"]  # LABELS order: flush first
    flush, neutral = traces
    assert list(flush.x) == [4 * H] and list(neutral.x) == [8 * H, 12 * H]
    assert flush.base[0] == datetime.fromtimestamp((T0 + 8 * H) / 1000, tz=UTC)
    assert flush.marker.color == REGIME_COLOURS["deleveraging_flush"]
    # evidence on hover, HTML-escaped (it goes into plotly's HTML hover box)
    assert "OI -5.0% / 1d &amp; &lt;longs&gt;" in flush.hovertext[0]
    assert all(t.meta == "regime-band" and t.orientation == "h" for t in traces)


def test_every_documented_label_has_its_own_colour() -> None:
    assert set(LABELS) <= set(REGIME_COLOURS)
    assert len({REGIME_COLOURS[lab] for lab in LABELS}) == len(LABELS)


def test_no_episodes_no_traces_and_the_band_row_is_a_date_axis() -> None:
    from plotly.subplots import make_subplots

    assert band_traces(_episodes().clear()) == []
    fig = add_regime_band(make_subplots(rows=2, cols=1, shared_xaxes=True), _episodes(), row=2)
    assert fig.layout.xaxis2.type == "date" and fig.layout.barmode == "overlay"
    assert len(fig.data) == 2


def test_heatmap_section_inlines_the_png_and_links_the_interactive_page(tmp_path: Path) -> None:
    png = tmp_path / "h.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    zones = pl.DataFrame(
        {
            "side": ["long", "short"],
            "rank": [1, 1],
            "price_lo": [62.16, 71.97],
            "price_hi": [62.50, 72.31],
            "usd": [1_982_647.0, 2_615_810.0],
            "distance_pct": [-11.48, 2.44],
        }
    )
    body = heatmap_html(zones, "a note", "heatmap-SOLUSDT.html", png)
    assert base64.b64encode(png.read_bytes()).decode() in body
    assert 'href="heatmap-SOLUSDT.html"' in body and "62.16 – 62.50" in body and "$2.62M" in body
    assert "data:image/png" not in heatmap_html(zones, "n", "x.html", tmp_path / "missing.png")
