"""The ``flows_after_flush`` study's dataset (issue 19, item 5): the 4h BTC panel with the ETF flow and
stablecoin growth of each bar as public by its end, read from the shared files.

The data first (the Farside file's own US$m totals), then what the dataset holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from tests.conftest import shared_data_dir

from perpscope.assemble.datasets import SHARED_DATASETS, WITHHELD, lake_dataset
from perpscope.core.time import parse_time_ms
from perpscope.evaluate import builtin_studies, load_spec
from perpscope.store import Lake

pytestmark = pytest.mark.shared


def t(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data is not beside this checkout")
    df, notes = SHARED_DATASETS["btc_binance_4h_flows"](shared, {})
    assert any(n.startswith("ETF flows: farside") for n in notes)
    return df


def farside() -> dict[str, float]:
    [f] = (shared_data_dir() / "farside_btc_etf_haturatu").glob("*.csv.gz")  # type: ignore[operator]
    raw = pl.read_csv(f, infer_schema_length=0).with_columns(
        pl.col("Date").str.to_date("%d %b %Y").cast(pl.String), pl.col("Total").cast(pl.Float64)
    )
    return dict(zip(raw["Date"], raw["Total"], strict=True))


def at(panel: pl.DataFrame, when: str) -> dict:  # type: ignore[type-arg]
    [row] = panel.filter(pl.col("ts_ms").dt.epoch("ms") == t(when)).to_dicts()
    return row


def test_etf_flow_enters_a_bar_only_once_public(panel: pl.DataFrame) -> None:
    total = farside()
    week = ("2025-10-06", "2025-10-07", "2025-10-08", "2025-10-09", "2025-10-10")
    to_fri = sum(total[d] for d in week)
    to_thu = sum(total[d] for d in ("2025-10-03", *week[:4]))
    assert total["2025-10-10"] == -4.5 and to_fri > 1000  # the data: US$m, a $2.7B week
    # the bar 16:00–20:00 UTC ends at the 10 October session close (16:00 New York): the day is public
    assert at(panel, "2025-10-10T16:00")["etf_5d_usd"] == pytest.approx(to_fri * 1e6)
    # the bar before ends at 16:00 UTC: Friday's flow is not known yet, the sum ends on Thursday
    assert at(panel, "2025-10-10T12:00")["etf_5d_usd"] == pytest.approx(to_thu * 1e6)


def test_stablecoin_growth_and_no_withheld_rows(panel: pl.DataFrame) -> None:
    # DefiLlama has daily USDT and USDC supply through the study's window: every bar has a 7-day change
    window = panel.filter(pl.col("ts_ms") >= datetime(2024, 11, 21, tzinfo=UTC))
    assert window["stablecoin_7d"].null_count() == 0
    lo, hi = (parse_time_ms(x) for x in WITHHELD)
    ts = panel["ts_ms"].dt.epoch("ms")
    assert panel.filter((ts >= lo) & (ts < hi)).height == 0


def test_the_study_reads_columns_the_dataset_has(panel: pl.DataFrame) -> None:
    spec = load_spec(builtin_studies()["flows_after_flush"])
    assert spec.dataset == "btc_binance_4h_flows"
    for s in spec.signals:
        assert set(s.expr().meta.root_names()) <= set(panel.columns), s.name
    # the flush split by ETF flow partitions the flushes that have an ETF figure (none is 0.0 exactly)
    n = {s.name: panel.select(s.expr().fill_null(False).sum()).item() for s in spec.signals}
    flush_with_etf = panel.filter(
        (pl.col("oi_usd_chg_1d") < -0.03) & pl.col("etf_5d_usd").is_not_null()
    ).height
    assert n["OI flush, ETF 5-day inflow"] + n["OI flush, ETF 5-day outflow"] == flush_with_etf > 0
    feats = {f for v in spec.variants for f in v.features}
    assert feats <= set(panel.columns)


def test_the_users_store_gives_the_same_flow_columns(shared_store: Path) -> None:
    # `perpscope evaluate --study flows_after_flush --on-store` reads the lake dataset with flows = true
    ds = lake_dataset(
        Lake(shared_store), {"venue": "binance", "symbol": "BTC-USDT-PERP", "every": "4h", "flows": "true"}
    )
    total = farside()
    to_fri = sum(total[d] for d in ("2025-10-06", "2025-10-07", "2025-10-08", "2025-10-09", "2025-10-10"))
    assert at(ds.panel, "2025-10-10T16:00")["etf_5d_usd"] == pytest.approx(to_fri * 1e6)
    assert at(ds.panel, "2025-10-10T16:00")["perp_spot_ratio_1d"] is not None  # Binance spot 1h klines
    assert not {"etf_flows", "stablecoin_supply", "cme_positioning"} & {
        m for v in ds.missing.values() for m in v
    }
