"""Batch work on a real Dask LocalCluster (two worker processes) over a real S3 server on loopback:
the same derived datasets as one process on a local folder, even when a worker is killed mid-job."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from perpscope.cluster.runner import parse_cluster, run_tasks
from perpscope.cluster.symbols import select_symbols
from perpscope.cluster.tasks import DATASETS, Task
from perpscope.core.time import HOUR_MS, parse_time_ms
from perpscope.ingest.importer import import_paths
from perpscope.store import Lake, open_lake

#: Six Binance perps, 4-hour candles from 2024-02 to 2026-03 (real data, ../shared/data).
KLINES = "binance_um_gravestone/klines_4h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20240228_20260319.csv.gz"
START, END = parse_time_ms("2025-12-01"), parse_time_ms("2026-03-01")


def _tasks(location: str, lake: Lake) -> list[Task]:
    return [
        Task(job, location, v, c, 4 * HOUR_MS, START, END)
        for job in DATASETS
        for v, c in select_symbols(lake, "all")
    ]


def _derived(lake: Lake) -> dict[str, pl.DataFrame]:
    return {d: lake.read_derived(d).sort("venue", "canonical", "ts_ms") for d in DATASETS.values()}


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pl.DataFrame]]:
    """The real klines imported into a local folder, and the batch run in this process on it."""
    from tests.conftest import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data (the team's real market data) is not beside this checkout")
    root = tmp_path_factory.mktemp("local") / "data"
    lake = Lake(root)
    report = import_paths([shared / KLINES], lake)
    assert not report.failed
    results = run_tasks(_tasks(str(root), lake))
    assert all(r.error is None and r.rows > 0 for r in results), results
    return shared / KLINES, _derived(lake)


@pytest.fixture
def s3_lake(s3_lake_url: str, local_reference: tuple[Path, dict[str, pl.DataFrame]]) -> Lake:
    lake = open_lake(s3_lake_url)
    assert not import_paths([local_reference[0]], lake).failed
    return lake


def test_symbols_select_by_list_glob_and_all(local_reference: Any, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    assert not import_paths([local_reference[0]], lake).failed
    everything = select_symbols(lake, "all")
    assert [c for _, c in everything] == [
        f"{b}-USDT-PERP" for b in ("BNB", "BTC", "DOGE", "ETH", "SOL", "XRP")
    ]
    assert select_symbols(lake, "btcusdt, ETH-USDT-PERP") == [
        ("binance", "BTC-USDT-PERP"),
        ("binance", "ETH-USDT-PERP"),
    ]
    assert [c for _, c in select_symbols(lake, "*O*USDT")] == ["DOGE-USDT-PERP", "SOL-USDT-PERP"]
    assert select_symbols(lake, "all", venue="bybit") == []


def test_cluster_spec() -> None:
    assert parse_cluster("local[2]") == ("local", 2)
    assert parse_cluster("tcp://10.0.0.5:8786") == ("scheduler", "tcp://10.0.0.5:8786")
    for bad in ("local", "local[0]", "10.0.0.5:8786"):
        with pytest.raises(ValueError):
            parse_cluster(bad)


def test_cluster_over_s3_equals_one_process_on_a_folder(
    s3_lake: Lake, dask_client: Any, local_reference: Any
) -> None:
    tasks = _tasks(_url(s3_lake), s3_lake)
    done: list[str] = []
    results = run_tasks(tasks, client=dask_client, on_done=lambda r: done.append(r.canonical))
    assert len(done) == len(tasks) == 12
    assert all(r.error is None for r in results)
    got, want = _derived(s3_lake), local_reference[1]
    for name in DATASETS.values():
        assert got[name].height > 0
        assert got[name].equals(want[name]), name
    # a task run again (a retry) replaces its partition, never appends to it
    again = run_tasks(tasks[:1], client=dask_client)
    assert again[0].rows == results[0].rows
    assert _derived(s3_lake)["panel"].equals(want["panel"])


def test_a_worker_killed_mid_job_changes_nothing(
    s3_lake: Lake, dask_client: Any, local_reference: Any
) -> None:
    """SIGKILL one worker process while the tasks run: its nanny restarts it, the scheduler reruns
    its tasks, and the datasets equal the single-process run."""
    tasks = _tasks(_url(s3_lake), s3_lake)
    pids = dask_client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = threading.Event()

    def on_done(_: Any) -> None:
        if not killed.is_set():  # after the first result, while the other tasks are queued or running
            os.kill(victim, signal.SIGKILL)
            killed.set()

    results = run_tasks(tasks, client=dask_client, on_done=on_done)
    assert killed.is_set()
    assert all(r.error is None for r in results)
    got, want = _derived(s3_lake), local_reference[1]
    for name in DATASETS.values():
        assert got[name].equals(want[name]), name
    dask_client.wait_for_workers(2, timeout=60)
    assert victim not in dask_client.run(os.getpid).values()


def _url(lake: Lake) -> str:
    return str(lake.url)  # type: ignore[attr-defined]


def test_cli_batch_writes_what_the_tasks_write(local_reference: Any, tmp_path: Path) -> None:
    """``metrics --symbols …`` through the CLI (in this process: a cluster's start would double these
    tests' time; the cluster path is the runner's, tested above): the table names every perp chosen,
    and the panel dataset equals the tasks' for those perps."""
    from typer.testing import CliRunner

    from perpscope.cli.main import app

    root = tmp_path / "data"
    assert not import_paths([local_reference[0]], Lake(root)).failed
    args = ["--data-dir", str(root), "metrics", "--symbols", "btcusdt,SOL*", "--every", "4h"]
    args += ["--from", "2025-12-01", "--to", "2026-03-01"]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert "BTC-USDT-PERP" in r.stdout and "SOL-USDT-PERP" in r.stdout and "ETH-USDT-PERP" not in r.stdout
    want = local_reference[1]["panel"].filter(pl.col("canonical").is_in(["BTC-USDT-PERP", "SOL-USDT-PERP"]))
    assert Lake(root).read_derived("panel").sort("venue", "canonical", "ts_ms").equals(want)
    r = CliRunner().invoke(app, ["--data-dir", str(root), "metrics"])
    assert r.exit_code == 2 and "--symbols" in r.output
    r = CliRunner().invoke(app, [*args, "--cluster", "local"])
    assert r.exit_code == 2 and "local[N]" in r.output
