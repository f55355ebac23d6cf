"""``perpscope heatmap`` and ``heatmap calibrate`` through typer's CliRunner, against a filled store."""

from __future__ import annotations

import shutil
from pathlib import Path

import plotly.graph_objects as go
import pytest
from tests.heatmap.conftest import demo_data_dir
from typer.testing import CliRunner

from perpscope.cli.main import app
from perpscope.heatmap import OIChangeModel, ensemble_members, model_inputs, run_ensemble
from perpscope.ingest.importer import import_paths
from perpscope.report.heatmap_chart import heatmap_figure, write_heatmap
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
    assert "hot zones after the bar of 2026-06-20 00:00 UTC" in res.output
    assert "oi-change v1 mix=high side=taker" in res.output and "long" in res.output and "short" in res.output
    page = out.read_text()
    assert ("plotly" in page and "liquidation heatmap" not in page) or "SOLUSDT" in page


def test_heatmap_ensemble_shows_bands_and_group_form_works(sol_store: Path) -> None:
    args = ["--data-dir", str(sol_store), "heatmap", "show", "SOL-USDT-PERP"]
    args += ["--model", "ensemble", "-k", "2"]
    res = runner.invoke(app, args, env={"COLUMNS": "220"})
    assert res.exit_code == 0, res.output
    assert "ensemble of 12" in res.output and "p10–p90 USD" in res.output


def test_heatmap_errors_say_what_to_do(sol_store: Path, tmp_path: Path) -> None:
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
    assert {"Heatmap", "Candlestick", "Bar"} <= kinds
    assert len(fig.layout.shapes) == 10  # 5 zones per side
    assert isinstance(fig, go.Figure)
    p = write_heatmap(fig, tmp_path / "x" / "chart.html")
    assert p.stat().st_size > 100_000  # plotly.js inlined: opens offline


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


@pytest.mark.skipif(shutil.which("chromium") is None, reason="PNG needs Debian's chromium (make browser)")
def test_heatmap_writes_png(sol_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "sol.png"
    args = ["--data-dir", str(sol_store), "heatmap", "SOLUSDT", "--at", "2026-06-20", "--out", str(out)]
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert (width, height) == (1400, 720)
