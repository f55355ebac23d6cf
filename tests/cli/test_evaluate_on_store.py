"""Built-in studies on a user's own store (issue 16, item 6): ``perpscope evaluate --study NAME`` reads
the store when asked (``--on-store``) or when the shared files are absent; a study the store cannot
feed names the records it needs and what the store holds; one it can partly feed runs without what it
cannot compute, and says so."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from perpscope.assemble.study_data import needs, on_store
from perpscope.cli.demo import demo_data_dir
from perpscope.cli.main import app
from perpscope.core.time import ms_to_iso
from perpscope.evaluate import builtin_studies, load_spec

runner = CliRunner()


def _klines() -> Path:
    return next(demo_data_dir().glob("klines_1h_perp_*.csv.gz"))


@pytest.fixture(scope="module")
def candles_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one file: the bundled 1h perp klines (price and volume, no taker split, no
    funding, OI, liquidations or ratios)."""
    data = tmp_path_factory.mktemp("eval-store") / "data"
    r = runner.invoke(app, ["--data-dir", str(data), "import", str(_klines())])
    assert r.exit_code == 0, r.output
    return data


def test_a_study_the_store_cannot_feed_names_the_records_it_needs(candles_only: Path, tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "--data-dir",
            str(candles_only),
            "evaluate",
            "--study",
            "derivatives_signals",
            "--on-store",
            "--out",
            str(tmp_path / "out"),
        ],
        env={"COLUMNS": "400"},
    )
    assert r.exit_code == 2, r.output
    said = " ".join(r.output.split())
    for measure in ("funding", "open_interest", "liquidations", "long_short_ratios"):
        assert f"needs {measure} — store records:" in said, measure
    # what the store holds for the symbol, its dates from the raw file
    k = pl.read_csv(io.BytesIO(gzip.decompress(_klines().read_bytes()))).filter(pl.col("symbol") == "BTCUSDT")
    first, last = ms_to_iso(int(k["timestamp"].min()))[:10], ms_to_iso(int(k["timestamp"].max()))[:10]
    assert f"The store holds for BTC-USDT-PERP: candles 1h {first}→{last} (binance)" in said
    assert not (tmp_path / "out").exists()  # nothing written for a study that did not run


def test_without_shared_files_a_study_runs_on_the_store_and_says_what_it_left_out(
    candles_only: Path, tmp_path: Path
) -> None:
    out = tmp_path / "studies"
    args = ["evaluate", "--study", "price_baselines_1h", "--format", "md", "--out", str(out)]
    r = runner.invoke(
        app,
        ["--data-dir", str(candles_only), *args, "--shared", str(tmp_path / "no-shared")],
        env={"COLUMNS": "400"},
    )
    assert r.exit_code == 0, r.output
    assert "running price_baselines_1h on your store" in r.output
    result = json.loads((out / "price_baselines_1h.json").read_text())
    assert result["spec"]["dataset"] == "lake"
    assert [v["name"] for v in result["spec"]["variants"]] == ["last bar return"]  # taker split absent
    notes = " ".join(result["data_notes"])
    assert "left out on your store, needs taker_flow" in notes and "feature taker_imbalance" in notes
    assert (out / "price_baselines_1h.md").is_file()


def test_needs_read_from_the_built_in_specs() -> None:
    spec = load_spec(builtin_studies()["derivatives_signals"])
    n = needs(spec)
    assert "signal 'funding negative'" in n["funding"]
    assert "signal 'crowded longs (global L/S z≥2)'" in n["long_short_ratios"]
    # a completed treadmill cycle comes from the regime classifier: price, OI and funding
    for m in ("price", "open_interest", "funding"):
        assert "signal 'treadmill cycle completed (perpscope.regimes.treadmill)'" in n[m]
    lake = on_store(spec)
    assert lake.dataset == "lake" and lake.dataset_options == {"symbol": "BTC-USDT-PERP", "every": "4h"}
    settle = on_store(load_spec(builtin_studies()["funding_settlement"]))
    assert settle.dataset_options["every"] == "5m" and settle.dataset_options["window"] == "30m"
