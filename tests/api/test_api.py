"""The API over the bundled real Binance demo data: values checked against the demo files' own numbers."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import polars as pl
import pytest

from perpscope.api.params import LADDER_MS, ApiError, Limits, check_range, pick_every
from perpscope.cli.demo import demo_data_dir
from perpscope.core.palette import REGIME_COLOURS
from perpscope.core.time import DAY_MS, HOUR_MS, MINUTE_MS
from perpscope.regimes import LABELS

API = "/api/v1"


def _klines(name: str) -> pl.DataFrame:
    with gzip.open(Path(demo_data_dir()) / name) as f:
        return pl.read_csv(f.read())


def test_symbols_lists_the_demo_pairs(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"{API}/symbols")
    assert r.status_code == 200
    canon = {s["canonical"] for s in r.json()["symbols"] if s["venue"] == "binance"}
    assert {"BTC-USDT-PERP", "ETH-USDT-PERP", "SOL-USDT-PERP"} <= canon


def test_candles_page_matches_the_source_file(client) -> None:  # type: ignore[no-untyped-def]
    # The 10 Oct 2025 21:00 UTC 5m bars: the source file's own numbers are the oracle.
    src = _klines("BTCUSDT_perp_5m_20251006_20251015.csv.gz")
    t0 = 1760130000000  # 2025-10-10 21:00 UTC
    want = src.filter(pl.col("open_time_ms") == t0).row(0, named=True)
    r = client.get(
        f"{API}/records/candles", params={"symbol": "BTCUSDT", "from": str(t0), "to": str(t0 + 300_000)}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 1 and body["columns"]["ts_ms"] == [t0]
    assert body["columns"]["low"][0] == pytest.approx(want["low"])
    assert body["columns"]["close"][0] == pytest.approx(want["close"])


def test_pagination_walks_every_row_once(client) -> None:  # type: ignore[no-untyped-def]
    params = {"symbol": "BTC-USDT-PERP", "from": "2025-10-06", "to": "2025-10-16", "limit": 1000}
    seen: list[int] = []
    offset: int | None = 0
    while offset is not None:
        body = client.get(f"{API}/records/candles", params={**params, "offset": offset}).json()
        seen += body["columns"]["ts_ms"]
        offset = body["next_offset"]
    assert len(seen) == len(set(seen)) == 2880  # the file's 10 days of 5m bars (SOURCES.md: 2,880 rows)


def test_metrics_downsample_keeps_ohlc(client) -> None:  # type: ignore[no-untyped-def]
    src = _klines("BTCUSDT_perp_5m_20251006_20251015.csv.gz")
    r = client.get(
        f"{API}/metrics",
        params={"symbol": "BTC-USDT-PERP", "from": "2025-10-06", "to": "2025-10-16", "max_points": 100},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["every_ms"] == 4 * HOUR_MS and body["rows"] == 60  # 10 days ≤ 100 bars → 4h
    c = body["columns"]
    # over the whole range: first open, max high, min low, last close of the 5m file
    assert c["open"][0] == pytest.approx(src["open"][0])
    assert max(c["high"]) == pytest.approx(src["high"].max())
    assert min(c["low"]) == pytest.approx(src["low"].min())
    assert c["close"][-1] == pytest.approx(src["close"][-1])


def test_dashboard_bundle_has_every_view(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get(
        f"{API}/dashboard", params={"symbol": "BTC-USDT-PERP", "from": "2026-03-01", "to": "2026-03-19"}
    )
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["series"]["rows"] > 0 and d["heatmap"]["available"] is True
    assert 0 < len(d["heatmap"]["usd"]) <= Limits().heatmap_prices
    assert set(d["heatmap"]["zones"]["side"]) == {"long", "short"}
    assert {"available"} <= set(d["regimes"]) and {"available"} <= set(d["cascade"])
    # regime episodes tile the range in whole 1h bars, each label in the one shared palette
    rg = d["regimes"]
    assert rg["available"] is True and rg["colours"] == REGIME_COLOURS
    runs = rg["runs"]
    assert all(r["regime"] in LABELS and r["evidence"] for r in runs)
    assert all(r["end_ms"] > r["start_ms"] and (r["end_ms"] - r["start_ms"]) % 3_600_000 == 0 for r in runs)
    assert all(a["end_ms"] <= b["start_ms"] for a, b in itertools.pairwise(runs))
    assert "funding" in d["methods"] and d["methods"]["funding"]["text"]
    fr = [x for x in d["series"]["columns"]["funding_rate"] if x is not None]
    assert fr and all(abs(x) < 0.01 for x in fr)  # fractions per interval, never percents


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"symbol": "NOPE-USDT-PERP"}, 404),
        ({"symbol": "BTCUSDT", "venue": "nowhere"}, 404),
        ({"symbol": "../etc/passwd"}, 400),
        ({"symbol": "BTC-USDT-PERP", "venue": "*"}, 400),
        ({"symbol": "BTCUSDT", "from": "2026-03-10", "to": "2026-03-01"}, 400),
        ({"symbol": "BTCUSDT", "from": "yesterday"}, 400),
        ({"symbol": "BTCUSDT", "from": "2019-01-01", "to": "2026-03-01"}, 413),
        ({"symbol": "BTCUSDT", "max_points": 10**9}, 422),
    ],
)
def test_bad_requests_are_4xx_with_a_message(client, params, status) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"{API}/metrics", params=params)
    assert r.status_code == status, r.text
    assert r.json()["error"]


def test_only_get_routes() -> None:
    from perpscope.api import ApiConfig, create_app

    app = create_app(ApiConfig(Path("/nonexistent")))
    methods = {m for route in app.routes for m in getattr(route, "methods", set())}
    assert methods <= {"GET", "HEAD"}


def test_token_required_when_configured(demo_lake) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from perpscope.cli.serve_cmd import build_app

    c = TestClient(build_app(Path(demo_lake.root), token="s3cret", port=8000))
    assert c.get(f"{API}/symbols").status_code == 401
    assert c.get(f"{API}/symbols", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get(f"{API}/symbols", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/").status_code == 200  # the page itself is public code; its data calls need the token


def test_dashboard_page_and_local_plotly(client) -> None:  # type: ignore[no-untyped-def]
    assert "PS.start()" in client.get("/").text
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and b"plotly" in js.content[:2000].lower()
    assert client.get("/static/page.py").status_code == 404


def test_pick_every_and_range_limits() -> None:
    assert pick_every(5 * MINUTE_MS, 365 * DAY_MS, 1500) == 12 * HOUR_MS  # 730 bars
    assert pick_every(HOUR_MS, DAY_MS, 1500) == HOUR_MS
    assert pick_every(HOUR_MS, 100 * 365 * DAY_MS, 10) == LADDER_MS[-1]
    with pytest.raises(ApiError) as e:
        check_range(0, 4 * 365 * DAY_MS, Limits())
    assert e.value.status == 413


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("venue=all", "flows read one venue's perp/spot volume"),
        ("venue=binance,okx", "flows read one venue's perp/spot volume"),
        ("from=soon", "from"),
        ("symbol=$$", "symbol"),
    ],
)
def test_flows_checks_the_asked_range_like_every_view(client, query: str, detail: str) -> None:  # type: ignore[no-untyped-def]
    # /flows reads venue, symbol, from and to through the same dependency as the other views (asked_range)
    r = client.get(f"/api/v1/flows?{query}")
    assert r.status_code == 400, r.text
    assert detail in r.text
    same = client.get(f"/api/v1/metrics?{query}")
    if "venue=" not in query:  # the other views accept a venue scope; a malformed part is refused alike
        assert same.status_code == 400 and same.json() == r.json()
