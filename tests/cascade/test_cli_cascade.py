"""``perpscope cascade`` through typer's CliRunner against a store filled with bundled real data; the chart;
the demo hook."""

from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go
import pytest
from typer.testing import CliRunner

from perpscope.cli.demo import fragility_for_demo
from perpscope.cli.main import app
from perpscope.ingest.importer import import_paths
from perpscope.store import Lake

from .conftest import demo_data_dir

runner = CliRunner()


@pytest.fixture(scope="module")
def sol_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cascade") / "data"
    d = demo_data_dir()
    rep = import_paths(
        [d / "SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz", d / "SOLUSDT_funding_rate.csv.gz"], Lake(data)
    )
    assert not rep.failed
    return data


def test_cascade_prints_distribution_and_fragility_and_writes_chart(sol_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.html"
    args = ["--data-dir", str(sol_store), "cascade", "SOLUSDT", "--shock", "-8%", "--at", "2026-06-20",
            "--paths", "50", "--out", str(out)]  # fmt: skip
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "2026-06-20 00:00 UTC" in res.output and "-8.00% shock, 50 paths" in res.output
    for text in ("liquidated USD", "branching ratio", "fragility", "+10.0%", "-0.5%", "sqrt law"):
        assert text in res.output, text
    page = out.read_text()
    assert "plotly" in page and "fragility curve" in page


def test_cascade_from_a_positions_file(sol_store: Path, tmp_path: Path) -> None:
    csv = tmp_path / "pos.csv"
    # 10x longs 1% and 3% under a ~150 price and a 2x short: an -8% move takes both longs
    csv.write_text(
        "side,entry,notional_usd,leverage\nlong,150,1000000,10\nlong,152,1000000,10\nshort,150,5,2\n"
    )
    args = ["--data-dir", str(sol_store), "cascade", "SOLUSDT", "--shock", "-500M", "--paths", "20",
            "--positions", str(csv), "--out", str(tmp_path / "p.html")]  # fmt: skip
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "pos.csv" in res.output and "market sell of 500,000,000 USD" in res.output


def test_cascade_shock_as_a_fraction_is_the_same_run_as_percent(sol_store: Path, tmp_path: Path) -> None:
    runs = []
    for shock in ("-0.08", "-8%"):
        args = ["--data-dir", str(sol_store), "cascade", "SOLUSDT", "--shock", shock, "--at", "2026-06-20",
                "--paths", "20", "--format", "json", "--out", str(tmp_path / "f.html")]  # fmt: skip
        res = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        runs.append(json.loads(res.output.strip().splitlines()[-1]))
    assert runs[0]["shock"] == "-8.00%" and runs[0]["outcome"] == runs[1]["outcome"]


def test_cascade_errors_say_what_to_do(sol_store: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["--data-dir", str(sol_store), "cascade", "SOLUSDT", "--shock", "down"])
    assert res.exit_code == 2 and "expected a signed percent move" in res.output
    for bare in ("3", "-3"):  # once read as a 3 USD / 0 USD market order: every output zero, exit 0
        res = runner.invoke(app, ["--data-dir", str(sol_store), "cascade", "SOLUSDT", "--shock", bare])
        assert res.exit_code == 2 and f"{bare}%" in res.output and "ambiguous" in res.output, res.output
    (tmp_path / "empty").mkdir()  # an empty store (a missing folder is its own error)
    res = runner.invoke(app, ["--data-dir", str(tmp_path / "empty"), "cascade", "BTCUSDT"])
    assert res.exit_code == 2 and "is empty: import data" in " ".join(res.output.split())


def test_fragility_for_demo(sol_store: Path) -> None:
    table, fig, drivers = fragility_for_demo(Lake(sol_store), symbol="SOL-USDT-PERP", paths=40)
    assert table.height == 14 and isinstance(fig, go.Figure)
    assert {"shock_pct", "liq_usd_p50", "final_move_pct_p50", "added_move_pct_p50"} <= set(table.columns)
    # what drove the result: the impact law (fitted or assumed) and the bracket table that priced it
    assert "sqrt law" in drivers and "no sourced binance SOL-USDT-PERP bracket table" in drivers
