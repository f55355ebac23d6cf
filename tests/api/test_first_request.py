"""The first dashboard request (issue 20): what the server computes at start is what a request would
compute, and a range asked past the data ends at the data. On the bundled real demo data."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from perpscope.api import DataSource, Limits
from perpscope.api.json_response import encode
from perpscope.api.screener import screener_view
from perpscope.api.views import _data_end, dashboard_view, make_query, precompute
from perpscope.assemble.records import price_span
from perpscope.core.time import DAY_MS
from perpscope.store import Lake


def _perps(src: DataSource) -> list[tuple[str, str]]:
    return [(v, c) for v, c in src.symbols().select("venue", "canonical").rows() if c.endswith("-PERP")]


def test_precomputed_answers_are_the_ones_a_request_computes(demo_lake: Lake) -> None:
    lim = Limits()
    src = DataSource(demo_lake, version_ttl_s=3600)
    precompute(src, lim)
    perps = _perps(src)
    assert perps
    fresh = DataSource(demo_lake)  # the direct computation, nothing cached
    for venue, canonical in perps:
        q = make_query(src, venue, canonical, None, None, lim)
        kept = src.cache.peek((src.version(), "dashboard-json", q))
        assert kept is not None, f"{venue} {canonical}: the default view was not precomputed"
        direct = encode(dashboard_view(fresh, make_query(fresh, venue, canonical, None, None, lim), lim))
        assert orjson.loads(kept) == orjson.loads(direct)
    assert src.cache.peek((src.version(), "screener")) == screener_view(demo_lake)


def test_a_range_asked_past_the_data_ends_at_the_data(demo_lake: Lake) -> None:
    lim = Limits()
    src = DataSource(demo_lake)
    venue, canonical = _perps(src)[0]
    end = price_span(demo_lake, venue, canonical).end_ms
    assert _data_end(src, venue, canonical) == end
    past = make_query(src, venue, canonical, end - 20 * DAY_MS, end + 3 * DAY_MS, lim)
    upto = make_query(src, venue, canonical, end - 20 * DAY_MS, end, lim)
    assert past == upto and past.end_ms == end
    d = dashboard_view(src, past, lim)
    assert d["to_ms"] == end and d["series"]["rows"] > 0
    # a range inside the data is left as asked
    inside = make_query(src, venue, canonical, end - 20 * DAY_MS, end - DAY_MS, lim)
    assert inside.end_ms == end - DAY_MS


def test_health_says_when_the_start_up_work_is_done(demo_lake: Lake) -> None:
    from perpscope.cli.serve_cmd import build_app

    c = TestClient(build_app(Path(demo_lake.root), port=8000), base_url="http://127.0.0.1:8000")
    deadline = time.monotonic() + 300
    while not c.get("/api/v1/health").json()["warm"]:
        if time.monotonic() > deadline:
            pytest.fail("the start-up work did not finish in 300 s")
        time.sleep(0.2)
    cold = TestClient(
        build_app(Path(demo_lake.root), port=8000, precompute=False), base_url="http://127.0.0.1:8000"
    )
    deadline = time.monotonic() + 120
    while not cold.get("/api/v1/health").json()["warm"]:  # numba's set-up only
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_a_range_after_the_venues_open_interest_ends_is_answered(shared_store: Path) -> None:
    """On the store of the whole shared data, the per-venue open interest of BTC ends before the last
    months of its price: a range there has no per-venue OI to stack (it answered a 500 before: the
    venues were ordered by their latest value in an empty frame)."""
    from perpscope.api.views import by_venue_view, market

    lim = Limits()
    src = DataSource(Lake(shared_store))
    q = make_query(src, "all", "BTC", 1766188800000, None, lim)  # 2025-12-20 → the data's end
    mp, _ = market(src, q)
    oi = mp.view.by_venue["open_interest"]
    last_oi = int(oi.get_column("ts_ms").dt.epoch("ms").max())  # type: ignore[arg-type]
    assert oi.get_column("venue").n_unique() > 1 and last_oi < q.start_ms  # the data's fact
    assert "open_interest" not in by_venue_view(src, q)
    d = dashboard_view(src, q, lim)
    assert d["series"]["rows"] > 0 and d["by_venue"]["funding"]["columns"]["ts_ms"]
