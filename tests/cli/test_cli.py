"""The CLI as a user runs it: import, store info, demo (values checked against the raw source files)."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import polars as pl
from tests.conftest import FIXTURES
from typer.testing import CliRunner

from perpscope.cli.demo import demo_data_dir
from perpscope.cli.main import app
from perpscope.core.time import DAY_MS
from perpscope.report.overview import collect_overview
from perpscope.store import Lake

runner = CliRunner()
KLINES_5M = FIXTURES / "archive/data/futures/um/daily/klines/BTCUSDT/5m"


def test_import_then_store_info(tmp_path: Path) -> None:
    data = tmp_path / "data"
    res = runner.invoke(app, ["--data-dir", str(data), "import", str(KLINES_5M)])
    assert res.exit_code == 0, res.output
    assert "4 file(s) imported, 0 skipped, 0 failed" in res.output
    info = runner.invoke(app, ["--data-dir", str(data), "store", "info"], env={"COLUMNS": "200"})
    assert info.exit_code == 0, info.output
    assert "BTC " in info.output and "candles 5m" in info.output and "1,152" in info.output
    details = runner.invoke(
        app, ["--data-dir", str(data), "store", "info", "--details"], env={"COLUMNS": "200"}
    )
    assert details.exit_code == 0, details.output
    assert "BTC-USDT-PERP" in details.output and "trade 5m" in details.output and "1,152" in details.output


def test_import_exits_non_zero_and_names_the_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "mystery.csv"
    bad.write_text("x,y\n1,2\n")
    res = runner.invoke(app, ["--data-dir", str(tmp_path / "d"), "import", str(bad)], env={"COLUMNS": "300"})
    assert res.exit_code == 1
    assert "mystery.csv" in res.output and "unrecognized file format" in res.output


def test_list_formats_names_archive_and_csv_formats() -> None:
    res = runner.invoke(app, ["import", "--list-formats"], env={"COLUMNS": "300"})
    assert res.exit_code == 0
    assert "binance-archive-klines" in res.output and "gravestone_funding" in res.output


def _source_klines() -> pl.DataFrame:
    src = next(demo_data_dir().glob("klines_1h_perp_*.csv.gz"))
    return pl.read_csv(io.BytesIO(gzip.decompress(src.read_bytes())))


def test_demo_writes_a_store_and_a_page_whose_numbers_match_the_source(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    # without the 10 Oct 2025 chapter (tests/cli/test_demo_crash.py): the page is the bundled data's
    res = runner.invoke(app, ["demo", "--out", str(out), "--no-png", "--no-crash"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text()
    assert "plotly" in page and page.count('class="plotly-graph-div"') == 7  # 6 symbols + the fragility curve
    flat = " ".join(res.output.split())
    assert re.search(r"BTC-USDT-PERP at \d{4}-\d\d-\d\d \d\d:\d\d UTC: cascade by shock size", flat), flat
    assert "Cascade fragility" in page
    for sym in ("BTC-USDT-PERP", "ETH-USDT-PERP", "SOL-USDT-PERP", "XRP-USDT-PERP", "BNB-USDT-PERP"):
        assert sym in page
    for coin in ("BTC", "ETH", "SOL", "XRP", "BNB", "DOGE"):  # the tables name USDT perps by their coin
        assert re.search(rf"│ {coin}\s+│", res.output), coin
    # BTCUSDT over the last 7 days of the bundled 1h klines, computed from the raw CSV, not the store
    k = _source_klines().filter(pl.col("symbol") == "BTCUSDT").sort("timestamp")
    end = int(k["timestamp"].max()) + 3_600_000  # type: ignore[arg-type]
    week = k.filter(pl.col("timestamp") >= end - 7 * DAY_MS)
    expected_change = week["close"][-1] / week["open"][0] - 1
    views = {v.summary.canonical: v.summary for v in collect_overview(Lake(out / "data"))}
    btc = views["BTC-USDT-PERP"]
    assert btc.price_close == week["close"][-1]
    assert abs((btc.price_change or 0) - expected_change) < 1e-12
    # the last BTCUSDT settlement inside the window in the bundled funding file, and its 8h APR
    f = pl.read_csv(next(demo_data_dir().glob("funding_rate_*.csv.gz"))).filter(
        (pl.col("symbol") == "BTCUSDT") & (pl.col("timestamp") < end)
    )
    last = f.sort("timestamp")["funding_rate"][-1]
    assert btc.funding_rate == last and btc.funding_interval_ms == 8 * 3_600_000
    assert abs((btc.funding_apr or 0) - last * 3 * 365) < 1e-12
    # OI: first and last 4h snapshot inside the window, from the raw file
    oi = pl.read_csv(next(demo_data_dir().glob("open_interest_4h_*.csv.gz"))).filter(
        (pl.col("symbol") == "BTCUSDT")
        & (pl.col("timestamp") >= end - 7 * DAY_MS)
        & (pl.col("timestamp") < end)
    )
    oi = oi.sort("timestamp")
    assert btc.oi_usd_end == oi["sum_open_interest_value"][-1]
    assert (
        abs((btc.oi_change or 0) - (oi["sum_open_interest_value"][-1] / oi["sum_open_interest_value"][0] - 1))
        < 1e-12
    )
    # running it again starts fresh and gives the same page
    again = runner.invoke(app, ["demo", "--out", str(out), "--no-png", "--no-crash"], env={"COLUMNS": "200"})
    assert again.exit_code == 0
