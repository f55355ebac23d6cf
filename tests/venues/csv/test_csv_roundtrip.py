"""Property: any funding table, written out as a foreign CSV export, comes back through a user mapping.

The export uses its own column names (with spaces and symbols), percent rates, ISO times with
milliseconds, text intervals, optional mark prices and extra rows a ``where`` filter must drop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpscope.records import FUNDING
from perpscope.venues.csv import load_mapping

MAPPING = """
[format]
name = "roundtrip"
description = "a foreign funding export"
header = ["Settled at", "Exchange", "Coin", "Every", "Funding %", "Mark $", "Kind"]

[[record]]
type = "funding"
venue = { column = "Exchange", case = "lower" }
symbol = { template = "{Coin}-USDT-SWAP" }
base = { column = "Coin" }
quote = "USDT"
where = { Kind = "settled" }
time = { column = "Settled at", unit = "iso" }
interval = { column = "Every" }
[record.fields]
rate = { column = "Funding %", scale = 0.01 }
mark_price = { expr = 'col("Mark $")' }
"""

T_MIN = int(datetime(2019, 1, 1, tzinfo=UTC).timestamp() * 1000)
# the importer admits instants up to a day after now (records/validate.py): stay before 2026
T_MAX = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
INTERVALS = {"1h": 3_600_000, "4h": 14_400_000, "8h": 28_800_000}

rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["Binance", "OKX", "Bybit", "Gate"]),
        st.from_regex(r"[A-Z][A-Z0-9]{1,5}", fullmatch=True),
        st.integers(T_MIN, T_MAX),
        st.floats(-0.05, 0.05, allow_nan=False, allow_subnormal=False),
        st.sampled_from(sorted(INTERVALS)),
        st.none() | st.floats(1e-6, 1e6, allow_nan=False),
        st.booleans(),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda r: (r[0].lower(), r[1], r[2]),
)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_funding_export_round_trips(tmp_path: Path, rows: list[tuple[Any, ...]]) -> None:
    mapping = tmp_path / "roundtrip.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    fmt = load_mapping(mapping)
    if not any(r[6] for r in rows):
        rows = [(*rows[0][:6], True), *rows[1:]]
    export = pl.DataFrame(
        {
            "Settled at": [iso(r[2]) for r in rows],
            "Exchange": [r[0] for r in rows],
            "Coin": [r[1] for r in rows],
            "Every": [r[4] for r in rows],
            "Funding %": [r[3] * 100 for r in rows],
            "Mark $": [r[5] for r in rows],
            "Kind": ["settled" if r[6] else "predicted" for r in rows],
        }
    )
    path = tmp_path / "export.csv"
    export.write_csv(path)

    [parsed] = fmt.parse(path)
    assert parsed.record is FUNDING
    got = sorted(FUNDING.to_records(parsed.frame), key=lambda r: (r.venue, r.canonical, r.ts_ms))
    want = sorted(
        (
            (r[0].lower(), f"{r[1]}-USDT-SWAP", f"{r[1]}-USDT-PERP", r[2], r[3], INTERVALS[r[4]], r[5])
            for r in rows
            if r[6]
        ),
        key=lambda w: (w[0], w[2], w[3]),
    )
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g.venue, g.symbol, g.canonical, g.ts_ms, g.interval_ms) == (w[0], w[1], w[2], w[3], w[5])
        assert abs(g.rate - w[4]) <= 1e-12 * max(1.0, abs(w[4]))
        assert (g.mark_price is None) == (w[6] is None)
        if w[6] is not None:
            assert g.mark_price == w[6]
