"""``store info``, ``serve``, ``collect`` and ``download`` on an ``s3://`` lake (the loopback moto server)
say and store exactly what they do on a folder holding the same rows — real market data, copied through
each lake's own write path."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.cluster.conftest import copy_subset
from typer.testing import CliRunner

from perpscope.cli.main import app
from perpscope.store import Lake, open_lake
from perpscope.store.location import STATE_ENV
from perpscope.store.reader import read
from perpscope.store.segment_cache import CACHE_NAME


def _bucket(endpoint: str) -> str:
    import boto3

    bucket = f"t-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/lake"


@pytest.fixture(scope="module")
def both(
    s3_endpoint: str, imported_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Lake, str]:
    """The cluster tests' real data (3 coins × 6 months of Binance 4h klines, liquidations, OI) in a
    folder and in a bucket."""
    folder = copy_subset(Lake(imported_store), Lake(tmp_path_factory.mktemp("cmds") / "data"))
    url = _bucket(s3_endpoint)
    copy_subset(Lake(imported_store), open_lake(url))
    return folder, url


def _cli(*args: str, **env: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "80", **env})


@pytest.mark.parametrize(
    "args", [[], ["--details"], ["--json"], ["--coin", "ETH", "--record", "candles"], ["--coin", "DOGE"]]
)
def test_store_info_on_s3_says_what_it_says_on_a_folder(
    both: tuple[Lake, str], args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary, the per-series details, the JSON and the errors are the folder's, but for the
    store's name, and again so from the summary cache; on S3 that cache is kept in this machine's
    folder for the lake, not in the bucket nor in the working folder."""
    folder, url = both
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    here = _cli("--data-dir", str(folder.root), "store", "info", *args)
    for _ in range(2):  # the second run answers the summary from the cache the first one wrote
        there = _cli("--data-dir", url, "store", "info", *args)
        assert there.exit_code == here.exit_code, there.output
        assert there.output.replace(url, "<store>") == here.output.replace(str(folder.root), "<store>")
    side = tmp_path / "state" / "s3" / url.split("://", 1)[1]
    caches = [p.parent for p in tmp_path.rglob(CACHE_NAME)]
    assert caches == ([side] if args in ([], ["--coin", "ETH", "--record", "candles"]) else [])
    if not args:
        assert here.exit_code == 0 and "BTC" in here.stdout and "3 coin(s)" in here.stdout
    if args == ["--coin", "DOGE"]:  # not in the copied data: the same refusal, naming what is held
        assert here.exit_code == 2 and "no 'DOGE' in the store" in " ".join(here.output.split())
    lake = open_lake(url)
    assert not [k for k in lake.fs.find(str(lake.root)) if k.endswith(CACHE_NAME)]  # type: ignore[attr-defined]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(both: tuple[Lake, str]) -> Iterator[tuple[str, str]]:
    """``perpscope serve`` in two processes on 127.0.0.1: over the folder and over the bucket."""
    folder, url = both
    procs, bases = [], []
    for where in (str(folder.root), url):
        port = _free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "perpscope.cli.main",
                    "--data-dir",
                    where,
                    "serve",
                    "--port",
                    str(port),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base, proc in zip(bases, procs, strict=True):
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                try:
                    if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "perpscope serve did not answer within 60 s"
                time.sleep(0.2)
        yield bases[0], bases[1]
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def test_serve_on_s3_answers_what_it_answers_on_a_folder(served: tuple[str, str]) -> None:
    """The catalogue, raw records, the metrics panel, regimes and the screener: the same JSON from the
    server reading the bucket as from the one reading the folder."""
    here, there = served
    span = {"symbol": "BTC-USDT-PERP", "from": "2025-06-01", "to": "2025-08-01"}
    asks = [
        ("symbols", {}),
        ("coverage", {}),
        ("records/candles", {**span, "limit": 500}),
        ("records/liquidations", span),
        ("metrics", {**span, "max_points": 200}),
        ("regimes", span),
        ("screener", {}),
    ]
    for route, params in asks:
        a = httpx.get(f"{here}/api/v1/{route}", params=params, timeout=120)
        b = httpx.get(f"{there}/api/v1/{route}", params=params, timeout=120)
        assert a.status_code == 200, (route, a.text)
        assert b.status_code == 200, (route, b.text)
        assert b.json() == a.json(), route
    symbols = httpx.get(f"{there}/api/v1/symbols").json()["symbols"]
    assert {s["canonical"] for s in symbols} >= {"BTC-USDT-PERP", "ETH-USDT-PERP", "BNB-USDT-PERP"}
    # the answer cache applies on S3 too: the store's fingerprint is the manifests', stable while unchanged
    v1 = httpx.get(f"{there}/api/v1/version").json()["store_version"]
    assert v1 == httpx.get(f"{there}/api/v1/version").json()["store_version"]


def test_collect_into_s3_stores_what_it_stores_in_a_folder(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``perpscope collect`` (a real process) fed recorded liquidations by a loopback websocket, once into
    a folder and once into a bucket: the same rows stored, and ``collect-status`` reads the S3 run's
    status from this machine's folder for the lake (nothing of it in the bucket)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))
    from binance_servers import FakeBinanceRest, liquidation_socket

    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    url = _bucket(s3_endpoint)
    folder = tmp_path / "data"
    stored = []
    for where in (str(folder), url):
        port = liquidation_socket(100)
        with FakeBinanceRest() as rest:
            cmd = [sys.executable, "-m", "perpscope.cli.main", "--data-dir", where, "collect", "--quiet"]
            cmd += ["--streams", "liquidations", "--flush-seconds", "30", "--rest-url", rest.url]
            proc = subprocess.Popen(
                [*cmd, "--ws-url", f"ws://127.0.0.1:{port}"],
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + 30
            while True:
                status = _cli("--data-dir", where, "collect-status", COLUMNS="200")
                if "pending rows 100" in status.stdout or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert "pending rows 100" in status.stdout, status.output
            proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=30)[0].decode()
        assert proc.returncode == 0, out
        assert "rows written" in out
        done = _cli("--data-dir", where, "collect-status", COLUMNS="200")
        assert done.exit_code == 0 and "stopped" in done.stdout and "liquidations" in done.stdout
        df = read(open_lake(where) if where == url else Lake(folder), "liquidations")
        stored.append(df.sort(df.columns))
    assert stored[0].height == 100
    assert stored[1].equals(stored[0])
    key = url.split("://", 1)[1]
    assert (tmp_path / "state" / "s3" / key / "_state" / "status.json").exists()
    lake = open_lake(url)
    assert lake.records_present() == ["liquidations"]  # the status file is not in the bucket
    assert not lake.fs.glob(f"{lake.root}/_state*")  # type: ignore[attr-defined]


def test_download_into_s3_stores_what_it_stores_in_a_folder(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``perpscope download`` (one process) into a bucket: the zips go to this machine's folder for the
    lake, the rows into the bucket — the folder run's rows and output, but for the places."""
    from tests.venues.archive.archive_helpers import FIXTURES
    from tests.venues.archive.archive_server import ArchiveServer

    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    url = _bucket(s3_endpoint)
    folder = tmp_path / "data"
    args = ["download", "-d", "klines", "-s", "BTCUSDT", "-i", "5m", "--since", "2025-10-10"]
    args += ["--until", "2025-10-13"]
    with ArchiveServer(FIXTURES) as srv:
        here = _cli("--data-dir", str(folder), *args, "--base-url", srv.base_url, COLUMNS="300")
        there = _cli("--data-dir", url, *args, "--base-url", srv.base_url, COLUMNS="300")
    assert here.exit_code == there.exit_code == 0, there.output
    zips = tmp_path / "state" / "s3" / url.split("://", 1)[1] / "archive"
    assert there.stdout.replace(str(zips), "<zips>").replace(url, "<store>") == here.stdout.replace(
        str(folder / "archive"), "<zips>"
    ).replace(str(folder), "<store>")
    assert len(list(zips.rglob("*.zip"))) == 4
    want = read(Lake(folder), "candles").sort("ts_ms")
    assert want.height == 4 * 288
    assert read(open_lake(url), "candles").sort("ts_ms").equals(want)
