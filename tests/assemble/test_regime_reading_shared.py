"""Every front end reads regimes as ``perpscope regimes`` does (assemble/regime_reading): the dashboard's
band (``/api/v1/regimes``, the dashboard bundle's ``regimes``), the home screener's row, the demo and the
cluster batch give the same labels for the same bars, read with the days before the range and with the
coin's flows. On the store a user has: everything in ``../shared/data`` imported the README way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from perpscope.assemble.panel import market_panel
from perpscope.assemble.regime_reading import REGIME_WARM_MS, regime_reading
from perpscope.cli.main import app
from perpscope.core.time import DAY_MS, HOUR_MS, interval_label, ms_to_iso, parse_time_ms
from perpscope.regimes import classify
from perpscope.store import Lake

pytestmark = [pytest.mark.shared, pytest.mark.slow]

#: 92 days: the dashboard's default 1,500 points give 4h bars over them (1h would be 2,208).
RANGE = ("2025-08-01", "2025-11-01")
SYMBOL, CANON = "BTCUSDT", "BTC-USDT-PERP"
EVERY_MS = 4 * HOUR_MS


def _regimes(data: Path, *args: str) -> list[dict[str, Any]]:
    """``perpscope regimes BTCUSDT ARGS --format json``'s rows."""
    r = CliRunner(env={"COLUMNS": "300"}).invoke(
        app, ["--data-dir", str(data), "regimes", SYMBOL, *args, "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    return list(json.loads(r.stdout)["rows"])


def _runs(rows: list[dict[str, Any]]) -> list[tuple[int, int, str, str]]:
    return [(int(e["start_ms"]), int(e["end_ms"]), e["regime"], e["evidence"]) for e in rows]


@pytest.fixture(scope="module")
def client(shared_store: Path):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from perpscope.cli.serve_cmd import build_app

    app_ = build_app(shared_store, port=8000, precompute=False)  # only what the test asks is computed
    return TestClient(app_, base_url="http://127.0.0.1:8000")


@pytest.fixture(scope="module")
def cli_range(shared_store: Path) -> dict[str, list[dict[str, Any]]]:
    """``perpscope regimes`` over :data:`RANGE` at 4h: its episodes, bars and reading."""
    args = ("--from", RANGE[0], "--to", RANGE[1], "--every", "4h")
    return {w: _regimes(shared_store, *args, "--what", w) for w in ("episodes", "bars", "reading")}


def test_the_dashboard_band_shows_the_episodes_perpscope_regimes_prints(
    client, cli_range: dict[str, list[dict[str, Any]]]
) -> None:  # type: ignore[no-untyped-def]
    r = client.get(
        "/api/v1/regimes", params={"venue": "binance", "symbol": CANON, "from": RANGE[0], "to": RANGE[1]}
    )
    assert r.status_code == 200, r.text
    band = r.json()
    assert band["available"] is True
    # the same bars (4h over the range), the same labels, the same evidence
    assert _runs(band["runs"]) == _runs(cli_range["episodes"])
    assert band["runs"][0]["start_ms"] == parse_time_ms(RANGE[0])
    # the band's "now" is the CLI's current reading, flows included
    now, cli = band["now"], cli_range["reading"][0]
    assert now["ts_ms"] == cli["ts_ms"] == parse_time_ms(RANGE[1]) - EVERY_MS
    for k in ("regime", "evidence", "flow_evidence", "since_ms", "breakers_engaged"):
        assert now[k] == cli[k], k


def test_the_first_day_reads_the_days_before_it(shared_store: Path, cli_range: dict[str, Any]) -> None:
    lo = parse_time_ms(RANGE[0])
    # the store holds the 33 days before the range: price, open interest (USD) and liquidations of every
    # 4h bar of July 2025
    july = market_panel(Lake(shared_store), "binance", SYMBOL, lo - REGIME_WARM_MS, lo, EVERY_MS).priced
    assert july.height == REGIME_WARM_MS // EVERY_MS
    assert july["oi_usd"].null_count() == 0 and july["liq_long_usd"].null_count() == 0
    first_day = [b for b in cli_range["bars"] if b["ts_ms"] < lo + DAY_MS]
    assert len(first_day) == DAY_MS // EVERY_MS
    assert all(b["regime"] != "insufficient_data" for b in first_day), first_day
    # … which is what the warm-up gave: the range's panel alone cannot read its first day
    alone = market_panel(Lake(shared_store), "binance", SYMBOL, lo, parse_time_ms(RANGE[1]), EVERY_MS).priced
    cold = classify(alone).filter(pl.col("ts_ms").dt.epoch("ms") < lo + DAY_MS)
    assert "insufficient_data" in cold["regime"].to_list()


def test_the_flows_evidence_is_read(cli_range: dict[str, Any]) -> None:
    # Oct 2025 in the shared data: US spot ETF flows, stablecoin supply and CME positioning are stored
    text = cli_range["reading"][0]["flow_evidence"]
    assert text.startswith("ETF 5-day flow") and "stablecoin supply" in text and "CME" in text, text


def test_the_screener_row_reads_what_perpscope_regimes_reads(shared_store: Path) -> None:
    from perpscope.api.screener import screener_row

    row = screener_row(Lake(shared_store), "binance", CANON)
    assert row["error"] is None and row["regime"] is not None
    every = int(row["every_ms"])
    end = -(-int(row["last_ms"]) // every) * every
    args = ("--from", ms_to_iso(end - 30 * DAY_MS), "--to", ms_to_iso(end), "--every", interval_label(every))
    cli = _regimes(shared_store, *args, "--what", "reading")[0]
    for k in ("regime", "evidence", "since_ms", "flow_evidence"):
        assert row[k] == cli[k], k
    assert row["flow_evidence"], "the row carries the flows evidence"


def test_the_demo_reads_what_perpscope_regimes_reads(shared_store: Path) -> None:
    from perpscope.cli.demo import REGIME_EVERY, regime_runs
    from perpscope.report.overview import symbol_view

    lk = Lake(shared_store)
    runs = regime_runs(lk, [symbol_view(lk, "binance", SYMBOL)])
    run = runs[("binance", CANON)]
    # the demo's window is the command's default: the 30 days before the last stored bar
    eps = _regimes(shared_store, "--every", REGIME_EVERY, "--what", "episodes")
    assert _runs(run.episodes.with_columns(pl.col("start_ms", "end_ms").dt.epoch("ms")).to_dicts()) == _runs(
        eps
    )
    cli = _regimes(shared_store, "--every", REGIME_EVERY, "--what", "reading")[0]
    for k in ("regime", "evidence", "flow_evidence"):
        assert run.reading[k] == cli[k], k


def test_the_cluster_batch_writes_the_labels_perpscope_regimes_prints(
    shared_store: Path, cli_range: dict[str, Any]
) -> None:
    from perpscope.cluster.tasks import Task, compute

    lo, hi = parse_time_ms(RANGE[0]), parse_time_ms(RANGE[1])
    labels = compute(Task("regimes", str(shared_store), "binance", CANON, EVERY_MS, lo, hi))
    got = labels.select(pl.col("ts_ms").dt.epoch("ms"), "regime").rows()
    assert got == [(b["ts_ms"], b["regime"]) for b in cli_range["bars"]]


def test_a_reading_ended_earlier_keeps_its_labels(shared_store: Path) -> None:
    """The demo's crash chapter reads its window and shows the reading at the crash bar's close
    (:meth:`RegimeReading.until`): the same as reading the window up to there."""
    lk, lo = Lake(shared_store), parse_time_ms("2025-10-03")
    whole = regime_reading(lk, "binance", SYMBOL, lo, parse_time_ms("2025-10-13"), EVERY_MS)
    at = parse_time_ms("2025-10-11")
    cut, direct = whole.until(at), regime_reading(lk, "binance", SYMBOL, lo, at, EVERY_MS)
    assert cut.bars()["regime"].to_list() == direct.bars()["regime"].to_list()
    assert cut.bars()["evidence"].to_list() == direct.bars()["evidence"].to_list()
