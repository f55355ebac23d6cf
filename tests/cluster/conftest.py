"""Fixtures of the cluster tests: the loopback S3 server, one real two-worker LocalCluster per session,
and the real market data both kinds of lake are filled with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.s3_server import s3_endpoint, s3_lake_url  # noqa: F401  (fixtures)

from perpscope.cluster.runner import connect, run_tasks
from perpscope.cluster.symbols import select_symbols
from perpscope.cluster.tasks import DATASETS, Task
from perpscope.core.time import HOUR_MS, parse_time_ms
from perpscope.evaluate import builtin_studies, load_spec
from perpscope.ingest.importer import import_paths
from perpscope.records import RECORDS
from perpscope.store import Lake

#: Real data (../shared/data): Binance 4h klines of six perps (2024-02 → 2026-03), and CoinGlass's 4h
#: liquidations and open interest of BTC, ETH, SOL and XRP (per coin, May → Nov 2025).
FILES = (
    "binance_um_gravestone/klines_4h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20240228_20260319.csv.gz",
    "coinglass_liquidity_report/liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz",
    "coinglass_liquidity_report/open_interest_by_exchange_4h_BTC_ETH_SOL_XRP.csv.gz",
)
#: What the cluster tests keep of it: three coins (BNB has no liquidations or OI: its calibration and
#: study fail the same way everywhere), Binance, the months the calibration windows and panels read.
COINS = ("BTC", "ETH", "BNB")
MONTHS = ("2025-04", "2025-05", "2025-06", "2025-07", "2025-08", "2025-09")


@pytest.fixture(scope="session")
def dask_client(s3_endpoint: str) -> Iterator[Any]:  # noqa: F811
    """A ``distributed.Client`` on a ``LocalCluster`` of two single-threaded worker processes, one for
    the whole session (a cluster's start costs seconds; started after the S3 server, so the workers
    inherit its environment)."""
    import distributed  # noqa: F401  (a pinned dependency: a broken install fails here instead of skipping)

    # the LocalCluster ``--cluster local[2]`` starts (runner.connect), with its workers' environment
    with connect("local[2]") as client:
        yield client


@pytest.fixture(scope="session")
def imported_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:data:`FILES` imported the README way into a local folder (once per session)."""
    from tests.conftest import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data (the team's real market data) is not beside this checkout")
    root = tmp_path_factory.mktemp("cluster-imported") / "data"
    report = import_paths([shared / f for f in FILES], Lake(root))
    assert not report.failed
    return root


def copy_subset(src: Lake, dst: Lake) -> Lake:
    """The :data:`COINS`' Binance partitions of ``src`` (pairs and coin aggregates), :data:`MONTHS`
    only, written into ``dst`` through its own write path (the object lake's manifests on S3)."""
    for name in src.records_present():
        for venue, canon in src.partitions(name):
            if venue != "binance" or canon.split("-")[0] not in COINS:
                continue
            files = [f for f in src.month_files(name, venue, canon) if f.name[:7] in MONTHS]
            if files:
                dst.write(
                    RECORDS[name], pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
                )
    return dst


#: The panels' range, and the calibration's windows (fit, then test once), inside the copied months.
START, END = parse_time_ms("2025-06-01"), parse_time_ms("2025-09-01")
FIT_FROM, FIT_TO, TEST_TO = (
    parse_time_ms("2025-05-20"),
    parse_time_ms("2025-07-15"),
    parse_time_ms("2025-08-31"),
)
STUDY = "derivatives_signals"


def batch_tasks(location: str, lake: Lake, jobs: tuple[str, ...] = tuple(DATASETS)) -> list[Task]:
    """Every job of ``jobs`` on every perp of the lake, as the CLI builds them."""
    out = []
    for job in jobs:
        for v, c in select_symbols(lake, "all"):
            if job == "calibrate":
                opts: tuple[tuple[str, Any], ...] = (("fit_to_ms", FIT_TO), ("model", "oi-change"))
                out.append(Task(job, location, v, c, None, FIT_FROM, TEST_TO, opts))
            elif job == "evaluate":
                spec = load_spec(builtin_studies()[STUDY])
                out.append(Task(job, location, v, c, None, options=(("spec", spec),)))
            else:
                out.append(Task(job, location, v, c, 4 * HOUR_MS, START, END))
    return out


def derived(lake: Lake, datasets: Any = DATASETS.values()) -> dict[str, pl.DataFrame]:
    out = {}
    for d in datasets:
        frame = lake.read_derived(d)
        out[d] = frame.sort(
            [c for c in ("venue", "canonical", "ts_ms", "window", "score") if c in frame.columns]
        )
    return out


@pytest.fixture(scope="session")
def local_reference(imported_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Any]:
    """The cluster tests' data in a local folder, every job run in this process on it, and their
    results (the derived datasets); once per session, the CLI tests compare with it too."""
    lake = copy_subset(Lake(imported_store), Lake(tmp_path_factory.mktemp("local") / "data"))
    results = run_tasks(batch_tasks(str(lake.root), lake))
    return lake, (results, derived(lake))
