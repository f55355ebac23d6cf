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
from tests.cluster.conftest import STUDY, batch_tasks, copy_subset, derived

from perpscope.cluster.runner import parse_cluster, run_tasks
from perpscope.cluster.symbols import select_symbols
from perpscope.cluster.tasks import DATASETS
from perpscope.cluster.worker_env import BATCH_WORKER_ENV, batch_worker_environ
from perpscope.store import Lake, open_lake


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
    results, datasets = local_reference[1]
    by = {
        (r.canonical, job): r
        for r, job in zip(results, [t.job for t in batch_tasks("x", local_reference[0])], strict=True)
    }
    for job in DATASETS:
        for coin in ("BTC", "ETH"):
            assert by[(f"{coin}-USDT-PERP", job)].error is None, (coin, job)
    assert by[("BNB-USDT-PERP", "metrics")].error is None
    assert "liquidations" in str(by[("BNB-USDT-PERP", "calibrate")].error)
    assert "cannot run" in str(by[("BNB-USDT-PERP", "evaluate")].error)
    cal = datasets["calibration"]
    assert set(cal.get_column("window")) == {"fit", "test"}
    assert cal.select(pl.col("canonical").unique().sort()).to_series().to_list() == [
        "BTC-USDT-PERP",
        "ETH-USDT-PERP",
    ]
    studies = datasets["studies"]
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


def _worker_env() -> dict[str, str]:
    """The allocator settings in force in this process: glibc's variables, and jemalloc's options as
    jemalloc reads ``_RJEM_MALLOC_CONF`` (the last value of each option wins)."""
    out = {k: os.environ.get(k, "") for k in BATCH_WORKER_ENV if k.startswith("MALLOC_")}
    options = dict(o.split(":", 1) for o in os.environ.get("_RJEM_MALLOC_CONF", "").split(",") if ":" in o)
    return {**out, **options}


def test_local_cluster_workers_start_with_the_batch_allocator_settings(dask_client: Any) -> None:
    """``--cluster local[N]`` workers reuse freed memory as the benchmark's workers do
    (cluster/worker_env.py): glibc's variables are in each worker's environment, and jemalloc's options
    are ours whatever polars put in front of them."""
    got = dask_client.run(_worker_env)
    want = {k: v for k, v in BATCH_WORKER_ENV.items() if k.startswith("MALLOC_")}
    want |= dict(o.split(":", 1) for o in BATCH_WORKER_ENV["_RJEM_MALLOC_CONF"].split(","))
    assert len(got) == 2
    assert all(env == want for env in got.values()), got


def test_the_worker_environment_is_restored_after_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_RJEM_MALLOC_CONF", "dirty_decay_ms:500")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with batch_worker_environ():
        # ours after what was there: jemalloc keeps the last value of an option
        ours = BATCH_WORKER_ENV["_RJEM_MALLOC_CONF"]
        assert os.environ["_RJEM_MALLOC_CONF"] == f"dirty_decay_ms:500,{ours}"
        assert os.environ["MALLOC_TRIM_THRESHOLD_"] == BATCH_WORKER_ENV["MALLOC_TRIM_THRESHOLD_"]
    assert os.environ["_RJEM_MALLOC_CONF"] == "dirty_decay_ms:500"
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ


def test_cluster_over_s3_equals_one_process_on_a_folder(
    s3_lake: Lake, dask_client: Any, local_reference: Any
) -> None:
    """metrics, regimes, heatmap calibrations and studies: on the cluster over S3 exactly what one process
    writes on a folder; a task run again (a retry) replaces its partition, never appends to it."""
    tasks = batch_tasks(_url(s3_lake), s3_lake)
    done: list[str] = []
    results = run_tasks(tasks, client=dask_client, on_done=lambda r: done.append(r.canonical))
    assert len(done) == len(tasks) == 4 * 3
    want_results, want = local_reference[1]
    assert [(r.canonical, r.rows, r.error is None) for r in results] == [
        (r.canonical, r.rows, r.error is None) for r in want_results
    ]
    got = derived(s3_lake)
    for name in DATASETS.values():
        assert got[name].height > 0
        assert got[name].equals(want[name]), name
    again = run_tasks(tasks[:1], client=dask_client)
    assert again[0].rows == results[0].rows
    assert derived(s3_lake, ["panel"])["panel"].equals(want["panel"])


def test_a_worker_killed_mid_job_changes_nothing(
    s3_lake: Lake, dask_client: Any, local_reference: Any
) -> None:
    """SIGKILL one worker process while the tasks run: its nanny restarts it, the scheduler reruns its
    tasks, and the datasets equal the single-process run."""
    tasks = batch_tasks(
        _url(s3_lake), s3_lake, ("metrics", "regimes")
    )  # the quick ones: the test is the kill
    for name in ("panel", "regimes"):  # what an earlier test wrote must not stand in for this run's rows
        fs, root = s3_lake.fs, s3_lake.root  # type: ignore[attr-defined]
        if fs.exists(f"{root}/{name}"):
            fs.rm(f"{root}/{name}", recursive=True)
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
    got, want = derived(s3_lake), local_reference[1][1]
    for name in ("panel", "regimes"):
        assert got[name].equals(want[name]), name
    dask_client.wait_for_workers(2, timeout=60)
    assert victim not in dask_client.run(os.getpid).values()


def _url(lake: Lake) -> str:
    return str(lake.url)  # type: ignore[attr-defined]


#: Three real files of Binance BTCUSDT perp 5-minute candles: all three commit into one partition.
IMPORT_FILES = (
    "binance_um_klines_leopoldlj/BTCUSDT_perp_5m_20240801_20240810.csv.gz",
    "binance_um_klines_leopoldlj/BTCUSDT_perp_5m_20250808_20250901.csv.gz",
    "binance_um_klines_leopoldlj/BTCUSDT_perp_5m_20251006_20251015.csv.gz",
)


def test_import_on_the_cluster_into_s3_equals_a_local_import(
    s3_endpoint: str, dask_client: Any, imported_store: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """``perpscope --data-dir s3://… import FILES --cluster …``: one task per file on the two workers,
    the three committing into one partition at once, and the lake holds exactly a local import's rows;
    importing again adds nothing."""
    import contextlib
    import uuid

    import boto3
    from tests.conftest import shared_data_dir
    from typer.testing import CliRunner

    import perpscope.cluster.runner as runner
    from perpscope.cli.main import app
    from perpscope.ingest.importer import import_paths
    from perpscope.store.reader import read

    shared = shared_data_dir()
    assert shared is not None  # imported_store skipped otherwise
    files = [str(shared / f) for f in IMPORT_FILES]
    local = Lake(tmp_path / "data")
    assert not import_paths([Path(f) for f in files], local).failed
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/lake"

    @contextlib.contextmanager
    def session_cluster(spec: str) -> Any:  # the session's LocalCluster(2) rather than a new one
        assert runner.parse_cluster(spec) == ("local", 2)
        yield dask_client

    monkeypatch.setattr(runner, "connect", session_cluster)
    tasks_seen: list[str] = []
    monkeypatch.setattr(dask_client, "map", _recording(dask_client.map, tasks_seen))
    r = CliRunner().invoke(app, ["--data-dir", url, "import", *files, "--cluster", "local[2]"])
    assert r.exit_code == 0, r.output
    assert "0 failed" in r.output, r.output
    assert len(tasks_seen) == 3 and all(k.startswith("import-BTCUSDT_perp_5m") for k in tasks_seen)
    key = ["interval_ms", "ts_ms"]
    want = read(local, "candles", venue="binance", symbol="BTC-USDT-PERP").sort(key)
    got = read(open_lake(url), "candles", venue="binance", symbol="BTC-USDT-PERP").sort(key)
    assert got.height == want.height > 0
    assert got.equals(want)
    again = CliRunner().invoke(app, ["--data-dir", url, "import", *files, "--cluster", "local[2]"])
    assert again.exit_code == 0, again.output
    assert read(open_lake(url), "candles", venue="binance", symbol="BTC-USDT-PERP").sort(key).equals(want)


def _recording(fn: Any, keys: list[str]) -> Any:
    def wrapped(*args: Any, **kw: Any) -> Any:
        keys.extend(kw.get("key") or [])
        return fn(*args, **kw)

    return wrapped


def _kernel_loads(dask_worker: Any) -> list[tuple[str, bool, str | None]]:
    """Each perpscope kernel plugin on this worker: its name, whether its loading ended, its error."""
    return [
        (name, p.load is not None and p.load.ended is not None, repr(p.load.error) if p.load else None)
        for name, p in dask_worker.plugins.items()
        if name.startswith("perpscope-kernels-")
    ]


def test_every_worker_loads_the_batch_kernels_before_its_tasks(
    dask_client: Any, imported_store: Path, local_reference: Any, tmp_path: Path
) -> None:
    """A batch registers the kernel-loading plugin of its jobs' packages (cluster/kernels.py) on every
    worker: set up before the worker's tasks, its loading thread ends without error (an empty cache
    loads nothing; the tasks compile), and the datasets are the ones one process writes."""
    from perpscope.cluster.kernels import kernel_packages

    lake = copy_subset(Lake(imported_store), Lake(tmp_path / "data"))
    results = run_tasks(batch_tasks(str(lake.root), lake, ("metrics", "regimes")), client=dask_client)
    assert all(r.error is None for r in results)
    name = "perpscope-kernels-" + ",".join(kernel_packages(["metrics", "regimes"]))
    got = dask_client.run(_kernel_loads)
    assert len(got) == 2
    for loads in got.values():
        assert (name, True, "None") in loads, loads
    want = local_reference[1][1]
    for d, frame in derived(lake, ["panel", "regimes"]).items():
        assert frame.height > 0
        assert frame.equals(want[d]), d
