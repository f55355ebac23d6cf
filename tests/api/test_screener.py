"""``/api/v1/screener`` (the dashboard's home) on the store imported from all of ``../shared/data``: one
row per perp with a price, its numbers checked against the raw files, cached per store version."""

from __future__ import annotations

import gzip
import io
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from perpscope.regimes import LABELS

SOL_1H = "binance_um_sol_jabine9966/SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz"
HOUR, DAY = 3_600_000, 86_400_000


@pytest.fixture(scope="module")
def shared_client(shared_store: Path):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from perpscope.cli.serve_cmd import build_app

    c = TestClient(build_app(shared_store, port=8000), base_url="http://127.0.0.1:8000")
    # the server's start-up work (default views, the screener) runs in the background: wait for it, so
    # the cache the tests look at holds what the requests computed, not what start-up adds meanwhile
    deadline = time.monotonic() + 600
    while not c.get("/api/v1/health").json()["warm"]:
        assert time.monotonic() < deadline, "the server's start-up work did not finish in 600 s"
        time.sleep(0.2)
    return c


@pytest.fixture(scope="module")
def screener(shared_client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = shared_client.get("/api/v1/screener")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _raw(shared: Path, name: str) -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(gzip.decompress((shared / name).read_bytes())))


def test_every_perp_with_candles_has_a_row(screener: dict[str, Any], shared_client) -> None:  # type: ignore[no-untyped-def]
    """The rows are the store's perp candle series (``/symbols``), none missing, none with an error."""
    symbols = shared_client.get("/api/v1/symbols").json()["symbols"]
    perps = {(s["venue"], s["canonical"]) for s in symbols if s["canonical"].endswith("-PERP")}
    rows = {(r["venue"], r["canonical"]) for r in screener["rows"]}
    assert rows == perps and len(rows) >= 6
    assert [r for r in screener["rows"] if r["error"]] == []
    # the store holds hundreds of coins with OI or funding but no candles: counted, not listed
    assert screener["without_price"] > 100
    for r in screener["rows"]:
        assert r["regime"] in LABELS, r
        assert r["evidence"] and r["since_ms"] <= r["last_ms"]
        assert r["price"] > 0


def test_sol_row_matches_the_raw_hourly_file(screener: dict[str, Any], shared_data: Path) -> None:
    raw = _raw(shared_data, SOL_1H).sort("ts")
    last = raw.row(-1, named=True)
    sol = next(r for r in screener["rows"] if r["canonical"] == "SOL-USDT-PERP")
    assert sol["last_ms"] == last["ts"] + HOUR  # the end of the last hourly candle
    assert sol["price"] == last["close"]
    # 24 h: the close of the candle that ended a day before the last one's end
    before = raw.filter(pl.col("ts") == last["ts"] - DAY)["close"][0]
    assert sol["change_24h"] == pytest.approx(last["close"] / before - 1, rel=1e-12)
    assert sol["oi_usd"] == pytest.approx(last["open_interest_oi_value"], rel=1e-9)
    # funding: the file's last settlement is the row's, and its APR is rate × 3 × 365 (8 h interval)
    funding = _raw(shared_data, "binance_um_sol_jabine9966/SOLUSDT_funding_rate.csv.gz")
    settled = funding.filter(pl.col("ts") < sol["last_ms"]).sort("ts")
    assert sol["funding_rate"] == settled["fundingRate"][-1]
    assert sol["funding_interval_ms"] == 8 * HOUR
    assert sol["funding_apr"] == pytest.approx(sol["funding_rate"] * 3 * 365, rel=1e-12)


def test_the_answer_is_cached_per_store_version(shared_client) -> None:  # type: ignore[no-untyped-def]
    source = shared_client.app.state.source
    first = shared_client.get("/api/v1/screener").json()
    held = len(source.cache)
    again = shared_client.get("/api/v1/screener").json()
    assert again == first and len(source.cache) == held  # answered from the cache, nothing new computed
