"""The archive downloader against a real HTTP server on 127.0.0.1 serving the fixtures' archive layout.

Faults: a corrupted zip (checksum mismatch), a missing day (404), a 500 before success, a partial file
to resume, a server that ignores Range, a connection cut mid-file, a server that keeps failing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from archive_helpers import FIXTURES, KLINES_5M
from archive_server import ArchiveServer
from typer.testing import CliRunner, Result

from perpscope.cli.main import app
from perpscope.core.errors import ChecksumError, VenueError
from perpscope.venues.archive.download import (
    Downloader,
    DownloadProgress,
    DownloadRequest,
    Gap,
    plan_files,
)

KDIR = "data/futures/um/daily/klines/BTCUSDT/5m"


def name(day: str) -> str:
    return f"BTCUSDT-5m-{day}.zip"


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """The fixture archive tree, with 2025-10-11 corrupted (checksum kept) and 2025-10-12 missing."""
    root = tmp_path / "served"
    shutil.copytree(FIXTURES / "data", root / "data")
    bad = root / KDIR / name("2025-10-11")
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    for p in (root / KDIR).glob("BTCUSDT-5m-2025-10-12.zip*"):
        p.unlink()
    return root


@pytest.fixture
def server(served: Path) -> Iterator[ArchiveServer]:
    with ArchiveServer(served) as srv:
        yield srv


def downloader(dest: Path, srv: ArchiveServer, **kw: object) -> Downloader:
    opts: dict = {"retries": 3, "backoff_s": 0.0, "workers": 2, "sleep": lambda s: None, **kw}
    return Downloader(dest, srv.base_url, **opts)


def klines(since: str, until: str) -> DownloadRequest:
    return DownloadRequest(
        "klines", ("BTCUSDT",), date.fromisoformat(since), date.fromisoformat(until), "um", "5m"
    )


def test_gaps_errors_retries_in_one_run(tmp_path: Path, server: ArchiveServer) -> None:
    server.fail_once.add(f"/{KDIR}/{name('2025-10-13')}")
    dest = tmp_path / "dest"
    events: list[DownloadProgress] = []
    report = downloader(dest, server).run(klines("2025-10-10", "2025-10-13"), events.append)

    assert report.written == [dest / KDIR / name("2025-10-10"), dest / KDIR / name("2025-10-13")]
    for p in report.written:  # byte-identical to the published file, checksum kept beside it
        assert p.read_bytes() == (KLINES_5M / p.name).read_bytes()
        assert (
            p.with_name(p.name + ".CHECKSUM").read_text() == (KLINES_5M / (p.name + ".CHECKSUM")).read_text()
        )
    assert report.gaps == [Gap(f"{KDIR}/{name('2025-10-12')}", "BTCUSDT", "2025-10-12")]
    assert [e.path for e in report.errors] == [f"{KDIR}/{name('2025-10-11')}"]
    err = report.errors[0].error
    assert isinstance(err, ChecksumError) and "SHA-256" in str(err)
    assert not list((dest / KDIR).glob("*2025-10-11*"))  # nothing written for it, no .part left
    assert len(server.gets(name("2025-10-13"))) == 2  # 500, then retried
    assert not report.ok
    assert events[-1].files_done == events[-1].files_total == 4
    assert events[-1].bytes_done == report.bytes_downloaded > 0


def test_second_run_skips_verified_files_without_requests(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dest"
    req = klines("2025-10-10", "2025-10-10")
    first = downloader(dest, server).run(req)
    assert len(first.written) == 1
    n = len(server.requests)
    second = downloader(dest, server).run(req)
    assert second.written == [] and second.skipped == first.written
    assert len(server.requests) == n
    assert second.files == first.files


def test_resume_partial_file_with_range(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dest"
    whole = (KLINES_5M / name("2025-10-10")).read_bytes()
    part = dest / KDIR / (name("2025-10-10") + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(whole[:5000])
    report = downloader(dest, server).run(klines("2025-10-10", "2025-10-10"))
    assert report.written == [dest / KDIR / name("2025-10-10")]
    assert report.written[0].read_bytes() == whole and not part.exists()
    assert server.gets(name("2025-10-10")) == ["bytes=5000-"]
    assert report.bytes_downloaded == len(whole) - 5000


def test_resume_when_server_ignores_range(tmp_path: Path, server: ArchiveServer) -> None:
    server.ignore_range = True
    dest = tmp_path / "dest"
    whole = (KLINES_5M / name("2025-10-10")).read_bytes()
    part = dest / KDIR / (name("2025-10-10") + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(whole[:5000])
    report = downloader(dest, server).run(klines("2025-10-10", "2025-10-10"))
    assert report.written[0].read_bytes() == whole
    assert report.bytes_downloaded == len(whole)  # a 200 answer: started over


def test_resumed_partial_with_bad_bytes_is_fetched_again(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dest"
    whole = (KLINES_5M / name("2025-10-10")).read_bytes()
    part = dest / KDIR / (name("2025-10-10") + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 5000)
    report = downloader(dest, server).run(klines("2025-10-10", "2025-10-10"))
    assert report.ok and report.written[0].read_bytes() == whole
    assert server.gets(name("2025-10-10")) == ["bytes=5000-", None]


def test_connection_cut_mid_file_resumes(tmp_path: Path, server: ArchiveServer) -> None:
    server.drop_after[f"/{KDIR}/{name('2025-10-10')}"] = 4000
    dest = tmp_path / "dest"
    report = downloader(dest, server).run(klines("2025-10-10", "2025-10-10"))
    assert report.ok, report.errors
    assert report.written[0].read_bytes() == (KLINES_5M / name("2025-10-10")).read_bytes()
    assert server.gets(name("2025-10-10")) == [None, "bytes=4000-"]


def test_retries_are_bounded(tmp_path: Path, server: ArchiveServer) -> None:
    server.always_fail.add(f"/{KDIR}/{name('2025-10-10')}.CHECKSUM")
    slept: list[float] = []
    dl = Downloader(
        tmp_path / "dest", server.base_url, retries=4, backoff_s=0.5, workers=1, sleep=slept.append
    )
    report = dl.run(klines("2025-10-10", "2025-10-13"))
    failed = {e.path: e.error for e in report.errors}
    assert isinstance(failed[f"{KDIR}/{name('2025-10-10')}"], VenueError)
    assert "after 4 attempts" in str(failed[f"{KDIR}/{name('2025-10-10')}"])
    assert len(server.gets(name("2025-10-10") + ".CHECKSUM")) == 4
    # exponential backoff between the attempts (the venues' one policy: 0.5, 1, 2 s, each ±50% jitter)
    assert len(slept) == 3
    assert all(0.5 * d <= s <= 1.5 * d for s, d in zip(slept, [0.5, 1.0, 2.0], strict=True))
    assert [p.name for p in report.written] == [name("2025-10-13")]  # the others carry on


def test_a_429_waits_the_servers_retry_after(tmp_path: Path, server: ArchiveServer) -> None:
    server.rate_limit_once[f"/{KDIR}/{name('2025-10-10')}"] = "7"
    slept: list[float] = []
    dl = Downloader(
        tmp_path / "dest", server.base_url, retries=3, backoff_s=0.5, workers=1, sleep=slept.append
    )
    report = dl.run(klines("2025-10-10", "2025-10-10"))
    assert report.ok, report.errors
    assert slept == [7.0]  # the archive's Retry-After, not our own backoff
    assert len(server.gets(name("2025-10-10"))) == 2


def test_plan_daily_monthly_and_published_url_form() -> None:
    # the README's example: data/spot/monthly/klines/BNBUSDT/1m/BNBUSDT-1m-2019-01.zip
    req = DownloadRequest(
        "klines", ("bnbusdt",), date(2019, 1, 1), date(2019, 2, 2), "spot", "1m", monthly=True
    )
    paths = [f.path for f in plan_files(req)]
    assert paths == [
        "data/spot/monthly/klines/BNBUSDT/1m/BNBUSDT-1m-2019-01.zip",
        "data/spot/daily/klines/BNBUSDT/1m/BNBUSDT-1m-2019-02-01.zip",
        "data/spot/daily/klines/BNBUSDT/1m/BNBUSDT-1m-2019-02-02.zip",
    ]
    fr = DownloadRequest("fundingRate", ("BTCUSDT",), date(2026, 2, 20), date(2026, 3, 5))
    assert [f.path for f in plan_files(fr)] == [
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-02.zip",
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-03.zip",
    ]
    m = DownloadRequest("metrics", ("BTCUSDT", "ETHUSDT"), date(2024, 1, 1), date(2024, 1, 2), monthly=True)
    assert [f.path.rsplit("/", 1)[1] for f in plan_files(m)] == [
        "BTCUSDT-metrics-2024-01-01.zip",
        "BTCUSDT-metrics-2024-01-02.zip",
        "ETHUSDT-metrics-2024-01-01.zip",
        "ETHUSDT-metrics-2024-01-02.zip",
    ]


@pytest.mark.parametrize(
    ("req", "words"),
    [
        (DownloadRequest("klines", ("BTCUSDT",), date(2024, 1, 1), date(2024, 1, 2)), "--interval"),
        (
            DownloadRequest("metrics", ("BTCUSDT",), date(2024, 1, 1), date(2024, 1, 2), "spot"),
            "published for um",
        ),
        (DownloadRequest("nope", ("BTCUSDT",), date(2024, 1, 1), date(2024, 1, 2)), "unknown dataset"),
        (DownloadRequest("metrics", ("BTCUSDT",), date(2024, 1, 3), date(2024, 1, 2)), "after until"),
    ],
)
def test_request_validation(req: DownloadRequest, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        req.validate()


# -- CLI -----------------------------------------------------------------------------------------------
def run_cli(data_dir: Path, args: list[str]) -> Result:
    """``perpscope --data-dir DATA_DIR ARGS…`` through the real command tree."""
    return CliRunner().invoke(app, ["--data-dir", str(data_dir), *args], env={"COLUMNS": "200"})


def test_cli_lists_gaps_and_errors_and_exits_nonzero(tmp_path: Path, server: ArchiveServer) -> None:
    data_dir = tmp_path / "data"
    args = ["download", "--dataset", "klines", "--symbols", "BTCUSDT", "--interval", "5m"]
    args += ["--since", "2025-10-10", "--until", "2025-10-13", "--base-url", server.base_url, "--no-import"]
    res = run_cli(data_dir, args)
    assert res.exit_code == 1, res.output
    assert "1 gaps" in res.output and "2025-10-12" in res.output
    assert "1 errors" in res.output and "SHA-256" in res.output
    assert (data_dir / "archive" / KDIR / name("2025-10-13")).exists()  # default dest: <data_dir>/archive


def test_cli_exits_zero_when_only_gaps(tmp_path: Path, server: ArchiveServer) -> None:
    args = [
        "download",
        "-d",
        "klines",
        "-s",
        "BTCUSDT",
        "-i",
        "5m",
        "--since",
        "2025-10-12",
        "--until",
        "2025-10-13",
    ]
    args += ["--base-url", server.base_url, "--no-import", "--dest", str(tmp_path / "zips")]
    res = run_cli(tmp_path / "data", args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "zips" / KDIR / name("2025-10-13")).exists()


def test_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    args = ["download", "-d", "klines", "-s", "BTCUSDT", "--since", "2025-10-12", "--until", "2025-10-13"]
    res = run_cli(tmp_path, args)
    assert res.exit_code == 2 and "--interval" in res.output


def test_cli_imports_into_the_store(tmp_path: Path, server: ArchiveServer) -> None:
    from perpscope.store import Lake
    from perpscope.store.reader import read

    data_dir = tmp_path / "data"
    args = [
        "download",
        "-d",
        "klines",
        "-s",
        "BTCUSDT",
        "-i",
        "5m",
        "--since",
        "2025-10-13",
        "--until",
        "2025-10-13",
    ]
    args += ["--base-url", server.base_url]
    res = run_cli(data_dir, args)
    assert res.exit_code == 0, res.output
    assert "imported 1 files" in res.output
    stored = read(Lake(data_dir), "candles", venue="binance", symbol="BTC-USDT-PERP")
    assert stored.height == 288
    assert stored["open"][0] == 114894.5  # first 5m bar of 2025-10-13 in the leopoldlj source
