"""The batch options through the CLI (in this process: starting a cluster per command would double
these tests' time; the cluster path is the runner's, tested in test_cluster): each command's table
names every perp chosen, and its dataset equals the tasks'."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.cluster.conftest import copy_subset
from typer.testing import CliRunner

from perpscope.cli.main import app
from perpscope.store import Lake


@pytest.fixture(scope="module")
def store(imported_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-batch") / "data"
    copy_subset(Lake(imported_store), Lake(root))
    return root


def _run(store: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--data-dir", str(store), *args], env={"COLUMNS": "80"})


def test_metrics_batch_writes_the_perps_chosen(store: Path) -> None:
    r = _run(
        store,
        "metrics",
        "--symbols",
        "btcusdt,E*",
        "--every",
        "4h",
        "--from",
        "2025-06-01",
        "--to",
        "2025-07-01",
    )
    assert r.exit_code == 0, r.output
    assert "BTC-USDT-PERP" in r.stdout and "ETH-USDT-PERP" in r.stdout and "BNB-USDT-PERP" not in r.stdout
    panel = Lake(store).read_derived("panel")
    assert sorted(set(panel.get_column("canonical"))) == ["BTC-USDT-PERP", "ETH-USDT-PERP"]
    assert panel.height == 2 * 30 * 6  # 4h bars of June, each perp
    r = _run(store, "metrics")
    assert r.exit_code == 2 and "--symbols" in r.output
    r = _run(store, "metrics", "--symbols", "all", "--cluster", "local")
    assert r.exit_code == 2 and "local[N]" in r.output


def test_calibrate_batch_equals_the_single_command(store: Path) -> None:
    """``heatmap calibrate --symbols`` stores, per perp, the scores the single command prints."""
    win = ["--fit-from", "2025-05-20", "--fit-to", "2025-07-15", "--test-to", "2025-08-31"]
    r = _run(store, "heatmap", "calibrate", "--symbols", "ETH*,BNB*", *win)
    assert r.exit_code == 0, r.output
    assert "ETH-USDT-PERP" in r.stdout and "written" in r.stdout
    assert "no liquidations of BNB-USDT-PERP" in r.stdout  # why BNB has no row: the data has none
    cal = Lake(store).read_derived("calibration")
    assert set(cal.get_column("canonical")) == {"ETH-USDT-PERP"}
    single = _run(store, "heatmap", "calibrate", "ETHUSDT", *win)
    assert single.exit_code == 0, single.output
    chosen = cal.get_column("chosen")[0]
    assert f"chosen on the fit window: {chosen}" in " ".join(single.stdout.split())  # wrapped at 80
    zones = cal.filter((pl.col("window") == "test") & (pl.col("score") == "precision@k zones")).row(
        0, named=True
    )
    assert f"{zones['value']:.3f}" in single.stdout and f"{zones['n']:,}" in single.stdout
    r = _run(store, "heatmap", "calibrate", "--symbols", "all", "--liq-symbol", "BTC-AGG-PERP", *win)
    assert r.exit_code == 2 and "--liq-symbol" in r.output


def test_evaluate_batch_stores_what_a_single_run_writes(store: Path, tmp_path: Path) -> None:
    r = _run(store, "evaluate", "--study", "derivatives_signals", "--symbols", "BTCUSDT")
    assert r.exit_code == 0, r.output
    rows = Lake(store).read_derived("studies")
    assert rows.select("venue", "canonical", "study").rows() == [
        ("binance", "BTC-USDT-PERP", "derivatives_signals")
    ]
    single = _run(
        store,
        "evaluate",
        "--study",
        "derivatives_signals",
        "--on-store",
        "--venue",
        "binance",
        "--out",
        str(tmp_path),
        "--format",
        "md",
    )
    assert single.exit_code == 0, single.output
    written = json.loads((tmp_path / "derivatives_signals.json").read_text())
    stored = json.loads(rows.get_column("results_json")[0])
    # the same study on the same series: the event study's numbers are the single run's
    assert stored["events"] == written["events"]
    assert stored["data"]["rows"] == written["data"]["rows"] == rows.get_column("rows")[0]
    r = _run(store, "evaluate", "--study", "derivatives_signals", "--cluster", "local[2]")
    assert r.exit_code == 2 and "--symbols" in r.output
