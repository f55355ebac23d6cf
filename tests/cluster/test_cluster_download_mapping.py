"""``download --cluster`` and ``import --mapping --cluster`` on the session's real two-worker LocalCluster,
into a bucket of the loopback S3 server: the lake holds exactly what one process puts in a folder —
also when a worker is SIGKILLed mid-download."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.venues.archive.archive_helpers import FIXTURES
from tests.venues.archive.archive_server import ArchiveServer
from tests.venues.csv.test_csv_mapping import FUNDING_MAP  # a user's funding export mapping
from typer.testing import CliRunner

import perpscope.cluster.runner as runner
from perpscope.cli.main import app
from perpscope.cluster.downloads import DownloadTask, run_download
from perpscope.store import Lake, open_lake
from perpscope.store.reader import read
from perpscope.venues.archive.download import DownloadRequest, plan_files

#: Real archive files served on loopback (tests/fixtures/archive, cut from Binance's public archive):
#: four days of BTCUSDT 5-minute klines, and SOLUSDT's daily metrics of which the archive lacks one day.
KLINES = ["-d", "klines", "-s", "BTCUSDT", "-i", "5m", "--since", "2025-10-10", "--until", "2025-10-13"]
METRICS = ["-d", "metrics", "-s", "SOLUSDT", "--since", "2026-06-24", "--until", "2026-06-26"]


@pytest.fixture(scope="module")
def archive() -> Iterator[ArchiveServer]:
    with ArchiveServer(FIXTURES) as srv:
        yield srv


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})


def _bucket(endpoint: str) -> str:
    import boto3

    bucket = f"t-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/lake"


@pytest.fixture
def on_session_cluster(dask_client: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``--cluster local[2]`` runs on the session's LocalCluster (not a new one); the task keys sent to
    it are recorded in the list returned."""
    keys: list[str] = []

    @contextlib.contextmanager
    def session_cluster(spec: str) -> Iterator[Any]:
        assert runner.parse_cluster(spec) == ("local", 2)
        yield dask_client

    def recording_map(*args: Any, **kw: Any) -> Any:
        keys.extend(kw.get("key") or [])
        return original(*args, **kw)

    original = dask_client.map
    monkeypatch.setattr(runner, "connect", session_cluster)
    monkeypatch.setattr(dask_client, "map", recording_map)
    return keys


def _records(lake: Lake) -> dict[str, pl.DataFrame]:
    """Every record the lake holds, each sorted on all its columns (the order rows were committed in
    differs between one process and racing tasks)."""
    out = {}
    for rec in lake.records_present():
        df = read(lake, rec)
        out[rec] = df.sort(df.columns)
    return out


def test_download_on_the_cluster_into_s3_equals_one_process(
    s3_endpoint: str, archive: ArchiveServer, on_session_cluster: list[str], tmp_path: Path
) -> None:
    """One task per archive file, each downloading (SHA-256 checked) and importing its file: the same
    rows as a single-process download into a folder, the same gap listed; a second run adds nothing."""
    local = tmp_path / "local"
    url = _bucket(s3_endpoint)
    base = ["--base-url", archive.base_url]
    for args in (KLINES, METRICS):
        one = _cli(*["--data-dir", str(local), "download", *args, *base])
        assert one.exit_code == 0, one.output
        dest = ["--dest", str(tmp_path / "zips")]
        many = _cli("--data-dir", url, "download", *args, *base, *dest, "--cluster", "local[2]")
        assert many.exit_code == 0, many.output
        # the single run's output, but for where the files and rows went
        mine = many.stdout.replace(url, "<store>").replace(str(tmp_path / "zips"), "<zips>")
        theirs = one.stdout.replace(str(local / "archive"), "<zips>").replace(str(local), "<store>")
        assert mine == theirs
    assert "2026-06-25" in many.stdout  # the day the archive lacks is a gap, as in one process
    assert len(on_session_cluster) == 4 + 3 and all(k.startswith("download-") for k in on_session_cluster)
    want = _records(Lake(local))
    assert set(want) == {"candles", "open_interest", "long_short_ratios"}  # what the two datasets give
    got = _records(open_lake(url))
    assert got.keys() == want.keys()
    for rec in want:
        assert got[rec].height == want[rec].height > 0, rec
        assert got[rec].equals(want[rec]), rec
    again = _cli(
        *[
            "--data-dir",
            url,
            "download",
            *KLINES,
            *base,
            "--dest",
            str(tmp_path / "zips"),
            "--cluster",
            "local[2]",
        ]
    )
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == [
        f"downloaded 0 files (0 bytes), 4 already present, into {tmp_path / 'zips'}",
        f"imported 4 files into {url}: 0 candles",
    ]


def test_a_worker_killed_mid_download_still_completes(
    s3_endpoint: str, archive: ArchiveServer, dask_client: Any, tmp_path: Path
) -> None:
    """SIGKILL a worker after the first file is in: the scheduler reruns the dead worker's tasks on the
    restarted one and the lake holds every file's rows, exactly once."""
    req = DownloadRequest("klines", ("BTCUSDT",), date(2025, 10, 10), date(2025, 10, 13), "um", "5m")
    files = plan_files(req)
    url = _bucket(s3_endpoint)
    tasks = [DownloadTask(url, str(tmp_path / "zips"), archive.base_url, f, True, 1, 0.0) for f in files]
    pids = dask_client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = threading.Event()

    def on_done(_: Any) -> None:
        if not killed.is_set():
            os.kill(victim, signal.SIGKILL)
            killed.set()

    outcomes = runner.map_tasks(
        run_download, tasks, [t.key for t in tasks], on_done=on_done, client=dask_client
    )
    assert killed.is_set()
    assert len(outcomes) == len(files) == 4 and all(not o.download.errors for o in outcomes)
    single = Lake(tmp_path / "single")
    for t in tasks:  # the same tasks one after another in this process, into a folder
        run_download(
            DownloadTask(str(single.root), str(tmp_path / "zips1"), t.base_url, t.file, True, 1, 0.0)
        )
    want = read(single, "candles").sort("ts_ms")
    got = read(open_lake(url), "candles").sort("ts_ms")
    assert want.height == 4 * 288  # four whole days of 5-minute bars
    assert got.equals(want)
    dask_client.wait_for_workers(2, timeout=60)


def test_import_with_a_mapping_on_the_cluster(
    s3_endpoint: str, on_session_cluster: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``import --mapping M --cluster``: the mapping travels with each task (the file is deleted before
    the workers start), and the lake holds what a single-process import with the mapping stores."""
    from tests.conftest import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data (the team's real market data) is not beside this checkout")
    raw = pl.read_csv(shared / "binance_um_gravestone/funding_rate_all_usdtm_perps_20260112_20260320.csv.gz")
    exports = []
    for coin in ("BTC", "ETH"):
        rows = raw.filter(pl.col("symbol") == f"{coin}USDT").select(
            pl.from_epoch(pl.col("timestamp") // 1000 * 1000, "ms")
            .dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            .alias("time"),
            pl.lit(coin).alias("coin"),
            pl.lit("Binance").alias("exchange"),
            (pl.col("funding_rate") * 100).alias("funding_pct"),
        )
        assert rows.height > 0
        exports.append(tmp_path / f"{coin}_funding_export.csv")
        rows.write_csv(exports[-1])
    mapping = tmp_path / "mine.toml"
    mapping.write_text(FUNDING_MAP)
    local = tmp_path / "local"
    one = _cli(*["--data-dir", str(local), "import", *map(str, exports), "--mapping", str(mapping)])
    assert one.exit_code == 0, one.output
    url = _bucket(s3_endpoint)
    original = runner.connect  # the fixture's session cluster: delete the mapping file as it starts

    @contextlib.contextmanager
    def without_the_file(spec: str) -> Iterator[Any]:
        mapping.unlink()
        with original(spec) as client:
            yield client

    monkeypatch.setattr(runner, "connect", without_the_file)
    many = _cli(
        *["--data-dir", url, "import", *map(str, exports), "--mapping", str(mapping), "--cluster", "local[2]"]
    )
    assert many.exit_code == 0, many.output
    assert not mapping.exists() and len(on_session_cluster) == 2
    want = read(Lake(local), "funding").sort("canonical", "ts_ms")
    got = read(open_lake(url), "funding").sort("canonical", "ts_ms")
    assert sorted(set(want.get_column("canonical"))) == ["BTC-USDT-PERP", "ETH-USDT-PERP"]
    assert got.equals(want)
    shutil.rmtree(local)
