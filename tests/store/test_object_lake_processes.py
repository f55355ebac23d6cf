"""Importer processes against the lake on a real S3 server on loopback: ``kill -9`` mid-import leaves
every file whole or absent, and two importers committing into one partition lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from perpscope.ingest.importer import import_paths
from perpscope.store import Lake, open_lake
from perpscope.store.object_lake import MANIFESTS, ObjectLake
from perpscope.store.reader import read

ROOT = Path(__file__).resolve().parents[2]
#: Real Binance BTCUSDT perp candles: three 5-minute files and the 4-hour history, all filed into the
#: one partition candles/venue=binance/symbol=BTC-USDT-PERP.
FILES = (
    "BTCUSDT_perp_5m_20240801_20240810.csv.gz",
    "BTCUSDT_perp_5m_20250808_20250901.csv.gz",
    "BTCUSDT_perp_5m_20251006_20251015.csv.gz",
    "BTCUSDT_perp_4h_20191001_20260210.csv.gz",
)
KEY = ["interval_ms", "ts_ms"]

#: An importer process: waits for ``go`` (so two start together), then imports its files one by one
#: (one commit each), printing a line after each.
IMPORTER = """
import sys, time
from pathlib import Path
from perpscope.ingest.importer import import_paths
from perpscope.store import open_lake
url, go, files = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
while not go.exists():
    time.sleep(0.01)
lake = open_lake(url)
for f in files:
    report = import_paths([Path(f)], lake)
    assert not report.failed, report.failed
    print("imported", f, flush=True)
print("lost commits", lake.lost_commits, flush=True)
"""


@pytest.fixture(scope="module")
def files() -> list[Path]:
    from tests.conftest import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data (the team's real market data) is not beside this checkout")
    return [shared / "binance_um_klines_leopoldlj" / f for f in FILES]


@pytest.fixture(scope="module")
def local_keys(files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[Path, pl.DataFrame]:
    """Each file's candle keys, from importing it alone into a local folder."""
    out = {}
    for f in files:
        lake = Lake(tmp_path_factory.mktemp("one") / "data")
        assert not import_paths([f], lake).failed
        out[f] = read(lake, "candles").select(KEY)
    return out


def _importer(url: str, go: Path, files: list[Path]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-c", IMPORTER, url, str(go), *map(str, files)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _stored(url: str) -> pl.DataFrame:
    return read(open_lake(url), "candles", venue="binance", symbol="BTC-USDT-PERP").select(KEY)


def test_two_importers_into_one_partition_lose_nothing(
    s3_lake_url: str, files: list[Path], local_keys: dict[Path, pl.DataFrame], tmp_path: Path
) -> None:
    go = tmp_path / "go"
    first = _importer(s3_lake_url, go, files[:2] + files[3:])  # 5m 2024-08, 5m 2025-08, 4h history
    second = _importer(s3_lake_url, go, [files[2], files[1]])  # 5m 2025-10, then 5m 2025-08 again
    go.touch()
    outs = [p.communicate(timeout=120)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    print(*outs)  # how many commits each lost to the other (re-merged on top), for the curious
    want = pl.concat(local_keys.values()).unique().sort(KEY)
    assert _stored(s3_lake_url).sort(KEY).equals(want)
    # five imports, one of them adding nothing: at most four commits of the partition, no commit lost
    lake = ObjectLake(s3_lake_url)
    assert lake.manifest(lake.partition_dir("candles", "binance", "BTC-USDT-PERP")).seq <= 4


def test_kill_9_mid_import_leaves_each_file_whole_or_absent(
    s3_lake_url: str, files: list[Path], local_keys: dict[Path, pl.DataFrame], tmp_path: Path
) -> None:
    go = tmp_path / "go"
    go.touch()
    lake = ObjectLake(s3_lake_url)
    manifests = lake.partition_dir("candles", "binance", "BTC-USDT-PERP") / MANIFESTS
    proc = _importer(s3_lake_url, go, [files[3], *files[:3]])  # the 4h history first: the longest commit
    try:
        deadline = time.monotonic() + 90
        while not lake.fs.exists(str(manifests)) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # into the next file's merge and uploads
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    stored = _stored(s3_lake_url)
    whole = 0
    for f, keys in local_keys.items():
        present = keys.join(stored, on=KEY, how="semi").height
        assert present in (0, keys.height), f"{f.name}: {present} of {keys.height} rows visible"
        whole += present == keys.height
    assert whole >= 1  # the first file had committed before the kill
    # the crashed writer's uploads are invisible, and recovery deletes them without changing a row
    lake.recover(grace_ms=0)
    assert _stored(s3_lake_url).equals(stored)
    named = set(lake.manifest(lake.partition_dir("candles", "binance", "BTC-USDT-PERP")).files.values())
    parts = {Path(p).name for p in lake.fs.ls(str(manifests.parent), detail=False, refresh=True)}
    assert parts - {MANIFESTS} == named
    # importing again completes what the killed importer began, as one clean import would
    assert not import_paths(files, open_lake(s3_lake_url)).failed
    assert _stored(s3_lake_url).sort(KEY).equals(pl.concat(local_keys.values()).unique().sort(KEY))
