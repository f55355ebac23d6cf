"""Batch work on a real Dask LocalCluster (two worker processes) over a real S3 server on loopback:
the same derived datasets as one process on a local folder — metrics, regimes, heatmap calibrations and
studies — even when a worker is killed mid-job."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.cluster.conftest import copy_subset

from perpscope.cli.evaluate_cmd import study_rows
from perpscope.cluster.runner import parse_cluster, run_tasks
from perpscope.cluster.symbols import select_symbols
from perpscope.cluster.tasks import DATASETS, Task
from perpscope.core.time import HOUR_MS, parse_time_ms
from perpscope.evaluate import builtin_studies, load_spec
from perpscope.store import Lake, open_lake

#: The panels' range, and the calibration's windows (fit, then test once), inside the copied months.
START, END = parse_time_ms("2025-06-01"), parse_time_ms("2025-09-01")
FIT_FROM, FIT_TO, TEST_TO = (
    parse_time_ms("2025-05-16"),
    parse_time_ms("2025-09-01"),
    parse_time_ms("2025-11-14"),
)
STUDY = "derivatives_signals"


def _tasks(location: str, lake: Lake, jobs: tuple[str, ...] = tuple(DATASETS)) -> list[Task]:
    """Every job of ``jobs`` on every perp of the lake, as the CLI builds them."""
    out = []
    for job in jobs:
        for v, c in select_symbols(lake, "all"):
            if job == "calibrate":
                opts: tuple[tuple[str, Any], ...] = (("fit_to_ms", FIT_TO), ("model", "oi-change"))
                out.append(Task(job, location, v, c, None, FIT_FROM, TEST_TO, opts))
            elif job == "evaluate":
                spec = load_spec(builtin_studies()[STUDY])
                out.append(Task(job, location, v, c, None, options=(("spec", spec),), compute=study_rows))
            else:
                out.append(Task(job, location, v, c, 4 * HOUR_MS, START, END))
    return out


def _derived(lake: Lake, datasets: Any = DATASETS.values()) -> dict[str, pl.DataFrame]:
    out = {}
    for d in datasets:
        frame = lake.read_derived(d)
        out[d] = frame.sort(
            [c for c in ("venue", "canonical", "ts_ms", "window", "score") if c in frame.columns]
        )
    return out


@pytest.fixture(scope="module")
def local_reference(imported_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Any]:
    """The cluster tests' data in a local folder, every job run in this process on it, and their
    results (the derived datasets)."""
    lake = copy_subset(Lake(imported_store), Lake(tmp_path_factory.mktemp("local") / "data"))
    results = run_tasks(_tasks(str(lake.root), lake))
    return lake, (results, _derived(lake))


@pytest.fixture(scope="module")
def s3_lake(s3_endpoint: str, imported_store: Path) -> Lake:
    """The same data in a bucket of the loopback S3 server, shared by this module's tests (each run
    replaces the derived partitions whole, so runs do not see each other's leftovers as rows)."""
    import uuid

    import boto3

    bucket = f"t-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return copy_subset(Lake(imported_store), open_lake(f"s3://{bucket}/lake"))


def test_the_data_gives_every_job_something_to_do_and_bnb_nothing_to_score(local_reference: Any) -> None:
    """A fact of the data: BTC and ETH have liquidations and OI in these months, BNB only candles — so
    every job writes for BTC and ETH, and calibration and study say why BNB has none."""
    results, derived = local_reference[1]
    by = {
        (r.canonical, job): r
        for r, job in zip(results, [t.job for t in _tasks("x", local_reference[0])], strict=True)
    }
    for job in DATASETS:
        for coin in ("BTC", "ETH"):
            assert by[(f"{coin}-USDT-PERP", job)].error is None, (coin, job)
    assert by[("BNB-USDT-PERP", "metrics")].error is None
    assert "liquidations" in str(by[("BNB-USDT-PERP", "calibrate")].error)
    assert "cannot run" in str(by[("BNB-USDT-PERP", "evaluate")].error)
    cal = derived["calibration"]
    assert set(cal.get_column("window")) == {"fit", "test"}
    assert cal.select(pl.col("canonical").unique().sort()).to_series().to_list() == [
        "BTC-USDT-PERP",
        "ETH-USDT-PERP",
    ]
    studies = derived["studies"]
    assert studies.height == 2 and set(studies.get_column("study")) == {STUDY}


def test_symbols_select_by_list_glob_and_all(local_reference: Any) -> None:
    lake = local_reference[0]
    assert [c for _, c in select_symbols(lake, "all")] == ["BNB-USDT-PERP", "BTC-USDT-PERP", "ETH-USDT-PERP"]
    assert select_symbols(lake, "btcusdt, ETH-USDT-PERP") == [
        ("binance", "BTC-USDT-PERP"),
        ("binance", "ETH-USDT-PERP"),
    ]
    assert [c for _, c in select_symbols(lake, "B*USDT")] == ["BNB-USDT-PERP", "BTC-USDT-PERP"]
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
    """metrics, regimes, heatmap calibrations and studies: on the cluster over S3 exactly what one process
    writes on a folder; a task run again (a retry) replaces its partition, never appends to it."""
    tasks = _tasks(_url(s3_lake), s3_lake)
    done: list[str] = []
    results = run_tasks(tasks, client=dask_client, on_done=lambda r: done.append(r.canonical))
    assert len(done) == len(tasks) == 4 * 3
    want_results, want = local_reference[1]
    assert [(r.canonical, r.rows, r.error is None) for r in results] == [
        (r.canonical, r.rows, r.error is None) for r in want_results
    ]
    got = _derived(s3_lake)
    for name in DATASETS.values():
        assert got[name].height > 0
        assert got[name].equals(want[name]), name
    again = run_tasks([t for t in tasks if t.job == "calibrate"][1:2], client=dask_client)
    assert again[0].error is None and again[0].rows > 0
    assert _derived(s3_lake, ["calibration"])["calibration"].equals(want["calibration"])


def test_a_worker_killed_mid_job_changes_nothing(
    s3_lake: Lake, dask_client: Any, local_reference: Any
) -> None:
    """SIGKILL one worker process while the tasks run: its nanny restarts it, the scheduler reruns its
    tasks, and the datasets equal the single-process run."""
    tasks = _tasks(_url(s3_lake), s3_lake, ("metrics", "regimes", "calibrate"))
    pids = dask_client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = threading.Event()

    def on_done(_: Any) -> None:
        if not killed.is_set():  # after the first result, while the other tasks are queued or running
            os.kill(victim, signal.SIGKILL)
            killed.set()

    results = run_tasks(tasks, client=dask_client, on_done=on_done)
    assert killed.is_set()
    assert sum(r.error is None for r in results) == len(tasks) - 1  # BNB's calibration: no liquidations
    got, want = _derived(s3_lake), local_reference[1][1]
    for name in ("panel", "regimes", "calibration"):
        assert got[name].equals(want[name]), name
    dask_client.wait_for_workers(2, timeout=60)
    assert victim not in dask_client.run(os.getpid).values()


def _url(lake: Lake) -> str:
    return str(lake.url)  # type: ignore[attr-defined]
