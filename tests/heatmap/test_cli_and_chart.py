"""``perpscope heatmap`` and ``heatmap calibrate`` through typer's CliRunner, against a filled store."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.heatmap.conftest import demo_data_dir
from typer.testing import CliRunner

from perpscope.cli.main import app
from perpscope.core.format import usd_text
from perpscope.core.time import parse_time_ms
from perpscope.heatmap import (
    DEFAULT_MODEL,
    MIXES,
    OIChangeModel,
    ensemble_members,
    model_inputs,
    run_ensemble,
    run_model,
)
from perpscope.heatmap.display import _final_by_leverage, leverage_books
from perpscope.ingest.importer import import_paths
from perpscope.report.chart_files import write_chart
from perpscope.report.heat_scale import (
    DECADES,
    HEAT_COLOURSCALE,
    LONG_COLOUR,
    SHORT_COLOUR,
    TOP_QUANTILE,
    log_cells,
    log_scale,
    spread_labels,
)
from perpscope.report.heatmap_chart import (
    AHEAD_SHARE,
    HEIGHT_WITH_MAP,
    LABEL_GAP_PX,
    heatmap_figure,
    quote_of,
)
from perpscope.store import Lake

runner = CliRunner()


@pytest.fixture(scope="module")
def sol_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("hm") / "data"
    d = demo_data_dir()
    rep = import_paths(
        [d / "SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz", d / "SOLUSDT_funding_rate.csv.gz"], Lake(data)
    )
    assert not rep.failed and rep.rows_added()["candles"] == 624
    return data


def test_heatmap_prints_zones_and_writes_html(sol_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "sol.html"
    args = ["--data-dir", str(sol_store), "heatmap", "SOLUSDT", "--at", "2026-06-20", "--from", "2026-06-01"]
    res = runner.invoke(app, [*args, "--out", str(out)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    # the map at 2026-06-20 00:00 is after the last bar closed by then (the 1h bar that opened at 23:00)
    assert "hot zones after the bar of 2026-06-19 23:00 UTC" in res.output
    assert "oi-change v1 mix=high side=taker" in res.output and "long" in res.output and "short" in res.output
    page = out.read_text()
    assert "SOLUSDT" in page and "liquidation map by leverage" in page and "price (USDT)" in page
    bare = tmp_path / "bare.html"
    res = runner.invoke(app, [*args, "--no-map", "--out", str(bare)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "liquidation map by leverage" not in bare.read_text() and "model book" in bare.read_text()


def test_at_uses_closed_bars_only(sol_store: Path) -> None:
    # the bar that opens at --at closes an hour later: it is the future, whether --at falls on a bar's
    # open or inside a bar; --to (an end of range, exclusive on bar opens) still includes it
    base = ["--data-dir", str(sol_store), "heatmap", "SOLUSDT", "--from", "2026-06-01", "--format", "json"]
    last = {}
    for opt, when in (
        ("--at", "2026-06-20T00:00"),
        ("--at", "2026-06-20T00:30"),
        ("--to", "2026-06-20T00:00"),
    ):
        res = runner.invoke(app, [*base, opt, when])
        assert res.exit_code == 0, res.output
        last[opt, when] = json.loads(res.output)["last_bar_ms"]
    t = parse_time_ms("2026-06-20T00:00")
    assert last["--at", "2026-06-20T00:00"] == t - 3_600_000
    assert last["--at", "2026-06-20T00:30"] == t - 3_600_000
    assert last["--to", "2026-06-20T00:00"] == t


@pytest.mark.parametrize(
    ("symbol", "quote"),
    [
        ("BTC-USDT-PERP", "USDT"),
        ("SOLUSDT", "USDT"),
        ("ethusdc", "USDC"),
        ("BTC-USD-PERP", "USD"),
        ("X", "quote"),
    ],
)
def test_quote_of_names_the_price_unit(symbol: str, quote: str) -> None:
    assert quote_of(symbol) == quote


def test_heatmap_ensemble_shows_bands_and_group_form_works(sol_store: Path) -> None:
    args = ["--data-dir", str(sol_store), "heatmap", "show", "SOL-USDT-PERP"]
    args += ["--model", "ensemble", "-k", "2"]
    res = runner.invoke(app, args, env={"COLUMNS": "220"})
    assert res.exit_code == 0, res.output
    assert "ensemble of 12" in res.output and "p10–p90 USD" in res.output


def test_heatmap_errors_say_what_to_do(sol_store: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["--data-dir", str(tmp_path / "missing"), "heatmap", "BTCUSDT"])
    assert res.exit_code == 2 and "does not exist" in " ".join(res.output.split())
    (tmp_path / "empty").mkdir()  # an empty store (a missing folder is its own error)
    res = runner.invoke(app, ["--data-dir", str(tmp_path / "empty"), "heatmap", "BTCUSDT"])
    assert res.exit_code == 2 and "is empty: import data" in " ".join(res.output.split())
    res = runner.invoke(app, ["--data-dir", str(sol_store), "heatmap", "SOLUSDT", "--model", "magic"])
    assert res.exit_code == 2 and "--model must be one of" in res.output
    bad = tmp_path / "map.pdf"  # refused before the model runs; nothing written
    res = runner.invoke(app, ["--data-dir", str(sol_store), "heatmap", "SOLUSDT", "--out", str(bad)])
    said = " ".join(res.output.split())  # the console wraps long temporary paths at its width
    assert res.exit_code == 2 and "expected a file ending in .html" in said and not bad.exists()


def test_chart_has_heatmap_candles_map_and_zones(sol_1h: dict, tmp_path: Path) -> None:
    s = sol_1h
    bars = model_inputs(s["candles"], s["open_interest"], None, s["long_short_ratios"], s["taker_volume"])
    ens = run_ensemble(ensemble_members(OIChangeModel(), bars=bars, side_rules=("taker", "even")), bars)
    fig = heatmap_figure(bars, ens)
    kinds = {type(t).__name__ for t in fig.data}
    assert {"Heatmap", "Candlestick", "Bar", "Scatter"} <= kinds
    assert isinstance(fig, go.Figure)
    p = write_chart(fig, tmp_path / "x" / "chart.html")
    assert p.stat().st_size > 100_000  # plotly.js inlined: opens offline


def _ms(x: object) -> int:
    """A plotly date value (datetime, aware or UTC-naive, or ISO text) → ms UTC."""
    t = x if isinstance(x, dt.datetime) else dt.datetime.fromisoformat(str(x))
    return round((t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp() * 1000)


def test_zones_start_at_the_bar_they_were_computed_at_with_labels_apart(sol_1h: dict) -> None:
    """Zone boxes span the strip after the last bar's close (not the history); the heatmap's columns are
    edges from each snapshot's close; labels sit at least a label's height apart; one colour scale."""
    s = sol_1h
    bars = model_inputs(s["candles"], s["open_interest"], None, s["long_short_ratios"], s["taker_volume"])
    run = run_model(DEFAULT_MODEL, bars)
    fig = heatmap_figure(bars, run)
    last_close_ms = int(bars["ts_ms"].dt.epoch("ms").max()) + run.interval_ms  # type: ignore[arg-type]
    zones = [sh for sh in fig.layout.shapes if sh.type == "rect" and sh.xref == "x"]
    assert len(zones) == 10
    assert {_ms(z.x0) for z in zones} == {last_close_ms}
    hm = next(t for t in fig.data if isinstance(t, go.Heatmap))
    edges = [_ms(x) for x in hm.x]
    assert len(edges) == np.asarray(hm.z).shape[1] + 1  # edges, not centres
    assert edges[0] > int(bars["ts_ms"].dt.epoch("ms").min())  # type: ignore[arg-type]
    assert edges[-2] == last_close_ms and edges[-1] == _ms(zones[0].x1)  # the current book fills the strip
    assert [tuple(c) for c in hm.colorscale] == [tuple(c) for c in HEAT_COLOURSCALE]
    assert hm.colorbar.orientation == "h" and "log scale" in hm.colorbar.title.text
    z = np.asarray(hm.z, dtype=np.float64)
    assert np.nanmax(z) > hm.zmax  # the hottest cells saturate: the scale's top is a quantile
    labels = [a for a in fig.layout.annotations if (a.name or "").startswith("zone-")]
    ys = sorted(a.y for a in labels)
    lo, hi = fig.layout.yaxis.range
    panel_px = (HEIGHT_WITH_MAP - fig.layout.margin.t - fig.layout.margin.b) * (
        fig.layout.yaxis.domain[1] - fig.layout.yaxis.domain[0]
    )
    assert len(labels) == 10 and min(np.diff(ys)) >= LABEL_GAP_PX * (hi - lo) / panel_px - 1e-9
    # units on the axes: price in the quote currency, time in UTC, USD per price row
    assert fig.layout.yaxis.title.text == "price (USDT)" and fig.layout.xaxis.title.text == "time (UTC)"
    assert fig.layout.xaxis2.title.text.startswith("USD per ") and fig.layout.yaxis3.tickprefix == "$"
    # the leverage split: one trace per leverage of the model's mix
    levs = [t.name for t in fig.data if getattr(t, "legend", None) == "legend2"]
    assert levs == [f"{lev:g}×" for lev in sorted(DEFAULT_MODEL.mix.leverages)]


def test_leverage_parts_add_up_to_the_book(sol_1h: dict) -> None:
    """The kernel is linear in the mix's weights: the runs with one leverage each, weighted, add up to
    the run's book without rescaling; the split the chart draws adds up to the drawn book."""
    s = sol_1h
    bars = model_inputs(s["candles"], s["open_interest"], None, s["long_short_ratios"], s["taker_volume"])
    run = run_model(DEFAULT_MODEL, bars)
    parts = _final_by_leverage(run, bars)
    assert np.allclose(sum(p[0] for p in parts.values()), run.out.final_long, rtol=1e-9, atol=1e-6)
    assert np.allclose(sum(p[1] for p in parts.values()), run.out.final_short, rtol=1e-9, atol=1e-6)
    books = leverage_books(run, bars)
    assert books.leverages.tolist() == sorted(DEFAULT_MODEL.mix.leverages)
    assert np.allclose(books.long_usd.sum(axis=0), run.out.final_long)
    ens = run_ensemble(ensemble_members(OIChangeModel(), bars=bars, side_rules=("taker",)), bars)
    eb = leverage_books(ens, bars)
    assert set(eb.leverages.tolist()) == {lev for m in MIXES.values() for lev in m.leverages}
    assert np.allclose(eb.short_usd.sum(axis=0), ens.short_q[1]) and (eb.short_usd >= 0).all()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.0, 100.0), min_size=0, max_size=12),
    st.floats(0.1, 20.0),
)
def test_spread_labels_keep_their_gap_inside_the_range(wanted: list[float], gap: float) -> None:
    ys = spread_labels(wanted, gap, 0.0, 100.0)
    assert len(ys) == len(wanted)
    if len(wanted) > 1:
        fit = min(gap, 100.0 / (len(wanted) - 1))
        s_ = sorted(ys)
        assert min(np.diff(s_)) >= fit - 1e-6
        order_in = sorted(range(len(wanted)), key=lambda i: (wanted[i], i))
        assert [ys[i] for i in order_in] == sorted(ys)  # labels keep their order
    assert all(-1e-9 <= y <= 100.0 + 1e-9 for y in ys)
    if len(wanted) < 2 or min(np.diff(sorted(wanted))) >= gap:  # already apart: nothing moves
        assert ys == pytest.approx(wanted)


def test_log_scale_top_is_a_quantile_and_ticks_read_as_usd() -> None:
    rng = np.random.default_rng(7)
    book = np.concatenate([rng.lognormal(10, 2, 5000), np.zeros(3000), [1e12]])
    sc = log_scale(book)
    assert sc.zmax == pytest.approx(np.log10(np.quantile(book[book > 0], 0.995)))
    assert sc.zmin == pytest.approx(sc.zmax - 3.0)  # the book spans more than 3 decades
    assert all(sc.zmin <= v <= sc.zmax for v in sc.tickvals) and len(sc.tickvals) >= 2
    assert list(sc.ticktext) == [usd_text(10**v) for v in sc.tickvals]
    cells = log_cells(np.array([[0.0, 1000.0], [-5.0, 1e6]]))
    assert np.isnan(cells[0, 0]) and np.isnan(cells[1, 0]) and cells[1, 1] == pytest.approx(6.0)


def test_dashboard_draws_with_the_same_scale_as_the_page() -> None:
    """app.js repeats heat_scale's constants (the browser has no Python): they must be equal."""
    js = (Path(str(resources.files("perpscope") / "dashboard" / "static" / "app.js"))).read_text()
    block = re.search(r"var HEAT = \{(.*?)\};", js, re.S)
    assert block is not None
    body = block.group(1)
    stops = re.findall(r'\[([0-9.]+), "(#[0-9a-f]{6})"\]', body)
    assert [(float(a), b) for a, b in stops] == list(HEAT_COLOURSCALE)
    assert f'long: "{LONG_COLOUR}"' in body and f'short: "{SHORT_COLOUR}"' in body
    assert f"decades: {DECADES}" in body and f"topQuantile: {TOP_QUANTILE}" in body
    assert f"labelGapPx: {LABEL_GAP_PX}" in body and f"aheadShare: {AHEAD_SHARE}" in body


@pytest.mark.shared
@pytest.mark.slow
def test_calibrate_command_on_shared_data(shared_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    import_paths(
        [
            shared_data / "binance_um_klines_leopoldlj/BTCUSDT_perp_4h_20191001_20260210.csv.gz",
            shared_data / "coinglass_liquidity_report/liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz",
            shared_data / "coinglass_liquidity_report/open_interest_by_exchange_4h_BTC_ETH_SOL_XRP.csv.gz",
        ],
        Lake(data),
    )
    args = [
        "--data-dir", str(data), "heatmap", "calibrate", "BTCUSDT",
        "--fit-from", "2025-05-16", "--fit-to", "2025-09-01", "--test-to", "2025-11-14",
        "--oi-symbol", "BTC-AGG-PERP", "--liq-symbol", "BTC-AGG-PERP",
    ]  # fmt: skip
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "chosen on the fit window: oi-change v1" in res.output
    assert "precision@k zones" in res.output and "magnet" in res.output
    # a ratio reads with two decimals (1.40, not "1"), fit and test and the interval's ends
    assert re.search(r"zone / control\W+\d+\.\d\d\W+\d+\.\d\d\W+\d+\.\d\d – \d+\.\d\d", res.output)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="PNG needs Debian's chromium (make browser)")
def test_heatmap_writes_png(sol_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "sol.png"
    args = ["--data-dir", str(sol_store), "heatmap", "SOLUSDT", "--at", "2026-06-20", "--out", str(out)]
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert (width, height) == (1400, HEIGHT_WITH_MAP)
