"""Property: no parameter of any route gives a 5xx (issue 21), over the bundled real demo store.

Beyond schemathesis's defaults (test_fuzz.py), which mostly draw values its schema allows and rarely reach
the store: every route of the app's own OpenAPI schema, every one of its parameters present or absent,
each drawn from a mix of arbitrary text, numbers of every size and the values that reach deep code paths
(the store's real symbols and venues, venue lists, instants inside and outside the demo coverage, the
metrics panel's real column names, repeated or ``ts_ms``). A 4xx must carry ``{"error": message}``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpscope.api.source import SERVED_RECORDS
from perpscope.api.views import SERIES_COLUMNS

# instants inside the demo data (Oct 2025 5m bars, Dec 2025 – Mar 2026 hourly) and around it, as ms
_MS = [1759708800000, 1760130000000, 1764547200000, 1772323200000, 1773964800000, 1773878400000, 0, 1]
_DATES = [
    "2025-10-06",
    "2025-10-10T21:00",
    "2025-12-01",
    "2026-03-01",
    "2026-03-19",
    "2019-01-01",
    "2099-12-31",
]

_text = st.text(max_size=60)
_number = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
_instant = st.one_of(
    st.sampled_from(_DATES),
    st.sampled_from(_MS).map(str),
    st.integers(min_value=1_500_000_000_000, max_value=1_800_000_000_000).map(str),
    _number,
    _text,
)
_venue = st.one_of(
    st.sampled_from(["binance", "all", "binance,bybit", "binance,binance", "bybit", "", "*", "BINANCE"]),
    st.lists(st.sampled_from(["binance", "okx", "bybit", "x"]), min_size=1, max_size=14).map(",".join),
    _text,
)
_symbol = st.one_of(
    st.sampled_from(
        ["BTC-USDT-PERP", "BTCUSDT", "ETH-USDT-PERP", "SOLUSDT", "btc-usdt-perp", "BTC-USDT-SPOT", "NOPE"]
    ),
    _text,
)
_column = st.sampled_from([*SERIES_COLUMNS, "ts_ms", "venue", "canonical", "ls_top_position", "nope", ""])
_cols = st.one_of(st.lists(_column, max_size=8).map(",".join), _text)
_small_int = st.one_of(st.integers(min_value=-5, max_value=6_000).map(str), _number, _text)

#: How each parameter name is drawn; any name not listed (a new parameter) gets arbitrary text.
STRATEGIES: dict[str, st.SearchStrategy[str]] = {
    "venue": _venue,
    "symbol": _symbol,
    "from": _instant,
    "to": _instant,
    "max_points": _small_int,
    "cols": _cols,
    "limit": _small_int,
    "offset": _small_int,
    "zones": _small_int,
    "k": _small_int,
    "every": st.one_of(st.sampled_from(["1h", "4h", "1d", "5m", "1w"]), _text),
    "record": st.one_of(st.sampled_from([*SERVED_RECORDS, "trades", "candles_x"]), _text),
}


def _operations(client: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every GET route of the app's schema with its parameters ``(name, in)``."""
    schema = client.app.openapi()
    ops = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            assert method == "get"
            ops.append((path, [(p["name"], p["in"]) for p in op.get("parameters", [])]))
    return ops


@st.composite
def _request(draw: st.DrawFn, ops: list[tuple[str, list[tuple[str, str]]]]) -> tuple[str, dict[str, str]]:
    path, params = draw(st.sampled_from(ops))
    query: dict[str, str] = {}
    for name, where in params:
        value = draw(STRATEGIES.get(name, _text))
        if where == "path":
            # a path segment, percent-encoded whole (a raw "/" or "?" would ask for another route)
            path = path.replace("{" + name + "}", quote(value, safe="") or "_")
        elif draw(st.booleans()):
            query[name] = value
    return path, query


def test_every_route_covered(client) -> None:  # type: ignore[no-untyped-def]
    names = {n for _, params in _operations(client) for n, _ in params}
    assert len(_operations(client)) >= 11
    assert names <= set(STRATEGIES), f"parameters without a strategy: {names - set(STRATEGIES)}"


@pytest.fixture(scope="module")
def operations(client):  # type: ignore[no-untyped-def]
    return _operations(client)


#: Routes that compute from the store: the random draws must reach each computation, not only validation.
COMPUTING = ("metrics", "heatmap", "zones", "regimes", "cascade", "dashboard", "records")
#: Draws per route. Each route's draws are its own fixed sequence, so adding a route to the app does not
#: reshuffle what the others are asked (one sequence over every route did: a new route left /metrics
#: without a single 200 in 400 draws).
PER_ROUTE = 36


def test_no_parameter_gives_a_server_error(client, operations) -> None:  # type: ignore[no-untyped-def]
    seen: Counter[tuple[str, int]] = Counter()

    for op in operations:

        @given(req=_request([op]))
        @settings(
            max_examples=PER_ROUTE,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def one(req: tuple[str, dict[str, str]]) -> None:
            path, query = req
            r = client.get(path, params=query)
            seen[(path.split("/")[3], r.status_code)] += 1
            assert r.status_code < 500, f"GET {path} {query!r} → {r.status_code}: {r.text[:300]}"
            assert r.headers["content-type"].startswith("application/json"), (path, query)
            if r.status_code >= 400:
                assert r.json()["error"], (path, query)

        one()
    print(sorted(seen.items()))
    # the draws reach the computations, not only the validation: every view answered 200 at least once
    ok = {route for route, status in seen if status == 200}
    assert set(COMPUTING) <= ok, seen
