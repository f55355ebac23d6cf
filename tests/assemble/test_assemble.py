"""``perpscope.assemble`` against a store filled with bundled real Binance data (provenance in the demo
folder's README): errors a front end can show, the model choice, the per-coin fallback of the panel."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.heatmap.conftest import demo_data_dir

from perpscope.assemble import StoreInputError
from perpscope.assemble.cascade import cascade_state, fragility_provider
from perpscope.assemble.heatmap import auto_model, heatmap_bars, heatmap_frames, heatmap_of, pick_model
from perpscope.assemble.panel import panel_of
from perpscope.core.errors import InputError
from perpscope.core.time import DAY_MS, HOUR_MS, parse_time_ms
from perpscope.heatmap import DEFAULT_MODEL, DEFAULT_TRADE_FLOW_MODEL
from perpscope.ingest.importer import import_paths
from perpscope.records import RECORDS
from perpscope.store import Lake
from perpscope.store.reader import read

SOL = "SOL-USDT-PERP"
BTC = "BTC-USDT-PERP"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """SOLUSDT 1h (candles, OI, ratios, taker volume) and BTCUSDT 5m candles (no OI); SOL's funding is
    stored under the per-coin aggregate ``SOL-AGG-PERP`` so the panel must fall back to it."""
    lk = Lake(tmp_path_factory.mktemp("assemble") / "data")
    d = demo_data_dir()
    rep = import_paths(
        [d / "SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz", d / "BTCUSDT_perp_5m_20251006_20251015.csv.gz"],
        lk,
    )
    assert not rep.failed
    side = tmp_path_factory.mktemp("funding") / "data"
    assert not import_paths([d / "SOLUSDT_funding_rate.csv.gz"], Lake(side)).failed
    funding = read(Lake(side), "funding", venue="binance", symbol=SOL)
    assert funding.height > 0
    lk.write(RECORDS["funding"], funding.with_columns(pl.lit("SOL-AGG-PERP").alias("canonical")))
    return lk


def test_errors_are_input_errors_that_say_what_to_do(lake: Lake) -> None:
    with pytest.raises(StoreInputError, match="is empty: import data") as e:
        heatmap_of(lake, "binance", BTC)
    assert isinstance(e.value, InputError)
    okx = {"venue": "okx", "symbol": "BTC", "canonical": "BTC-AGG-PERP", "ts_ms": [0], "rate": [1e-4]}
    lake.write(RECORDS["funding"], pl.DataFrame({**okx, "interval_ms": [8 * HOUR_MS]}))
    with pytest.raises(
        StoreInputError,
        match=r"no candles of BTC-USDT-PERP for venue scope binance.*funding 1970-01-01→1970-01-01 \(okx\)",
    ):
        panel_of(lake, "binance", BTC, None, None, 4 * HOUR_MS)
    with pytest.raises(StoreInputError, match="no candles"):
        cascade_state(lake, "binance", BTC)


def test_model_choice_follows_the_stored_open_interest(store: Lake) -> None:
    end = parse_time_ms("2026-06-20") + 1
    sol = heatmap_bars(heatmap_frames(store, "binance", SOL, end - 10 * DAY_MS, end), None)
    btc_end = parse_time_ms("2025-10-12")
    btc = heatmap_bars(heatmap_frames(store, "binance", BTC, btc_end - 3 * DAY_MS, btc_end), None)
    assert auto_model(sol) == DEFAULT_MODEL  # the SOL file carries open interest
    assert auto_model(btc) == DEFAULT_TRADE_FLOW_MODEL  # the BTC 5m klines carry none
    assert pick_model("trade-flow", sol) == DEFAULT_TRADE_FLOW_MODEL
    members = pick_model("ensemble", sol)
    assert isinstance(members, list) and len(members) > 1
    with pytest.raises(StoreInputError, match="the oi-change model needs open interest"):
        pick_model("oi-change", btc)
    with pytest.raises(StoreInputError, match="--model must be one of auto, oi-change, trade-flow, ensemble"):
        pick_model("magic", sol)


def test_heatmap_of_covers_the_30_days_before_the_end(store: Lake) -> None:
    end = parse_time_ms("2026-06-20")
    v = heatmap_of(store, "binance", SOL, None, end, zones=3)
    first = int(v.bars.get_column("ts_ms").dt.epoch("ms").min())  # type: ignore[arg-type]
    assert first >= end - 30 * DAY_MS and v.last_ms < end
    assert set(v.zones.get_column("side").unique()) <= {"long", "short"} and v.zones.height <= 6
    assert v.label.startswith("oi-change")


def test_panel_falls_back_to_the_per_coin_aggregate(store: Lake) -> None:
    end = parse_time_ms("2026-06-20")
    panel, notes = panel_of(store, "binance", "SOLUSDT", end - 5 * DAY_MS, end, 4 * HOUR_MS)
    assert "funding: binance SOL-AGG-PERP (the coin's figure) used for SOL-USDT-PERP" in notes
    assert any(n.startswith("funding: binance SOL-AGG-PERP 8h") for n in notes)  # provenance line
    assert panel.height == 5 * 6  # 5 days of 4h bars
    assert set(panel.get_column("canonical")) == {SOL}
    assert panel.get_column("funding_rate").is_not_null().any()


def test_fragility_provider_gives_a_curve(store: Lake) -> None:
    frag = fragility_provider(Path(store.root), paths=20)("binance", SOL, parse_time_ms("2026-06-20"))
    assert {"shock_pct", "liq_usd_p50"} <= set(frag.columns) and frag.height > 3
    assert (frag.get_column("liq_usd_p50") >= 0).all()


@given(st.lists(st.sampled_from(["", "binance", "all", None]), min_size=1, max_size=40))
def test_cover_runs_are_the_runs_of_equal_consecutive_covers(labels: list[str | None]) -> None:
    """Provenance's cover runs against their definition, written as a plain loop (a missing cover
    starts a run of its own, as an unknown is equal to nothing)."""
    from perpscope.assemble.provenance import _runs

    ts = [i * 300_000 for i in range(len(labels))]
    want: list[tuple[int, int, str]] = []
    for i, lab in enumerate(labels):
        if i and lab is not None and lab == labels[i - 1]:
            want[-1] = (want[-1][0], ts[i], want[-1][2])
        else:
            want.append((ts[i], ts[i], str(lab)))
    frame = pl.DataFrame({"ts_ms": ts, "cover": labels}, schema={"ts_ms": pl.Int64, "cover": pl.String})
    assert _runs(frame.with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))) == want
