"""Download date ranges of a Binance archive dataset, verified against the published SHA-256.

For each file: fetch ``<file>.zip.CHECKSUM`` (``<sha256>  <file>.zip``), download the zip to
``<file>.zip.part`` (resuming a partial ``.part`` with an HTTP Range request when the server honours
it), verify the SHA-256, then fsync and rename into place and keep the ``.CHECKSUM`` beside it. A file
already present whose hash matches its kept ``.CHECKSUM`` is skipped without a request.

- A missing file (HTTP 404) is a *gap* in the report, not an error: symbols list late, and Binance
  skips some days.
- A checksum mismatch is a :class:`~perpscope.core.errors.ChecksumError` for that file; nothing is
  written for it and the other files continue.
- 5xx, 418/429 (rate limits, honouring ``Retry-After``), timeouts and broken connections are retried
  under the venues' one retry policy (:mod:`perpscope.venues.retry`: jittered exponential backoff, a
  bounded number of times); then the file fails with a :class:`~perpscope.core.errors.VenueError`.

Files land under ``dest`` in the archive's own layout (``dest/data/futures/um/daily/klines/...``), so
the importer recognizes each file's dataset from its path.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal, Protocol

import httpx

from perpscope import __version__
from perpscope.core.errors import ChecksumError, PerpscopeError, VenueError
from perpscope.venues.archive.layout import DATASETS, Period, Segment, archive_path
from perpscope.venues.retry import RetryPolicy, Transient, retry_after_s

DEFAULT_BASE_URL = "https://data.binance.vision"
_SHA_RE = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(\S+)\s*$")
_RETRY_STATUS = frozenset({418, 429, 500, 502, 503, 504})
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """What to download.

    Attributes
    ----------
    dataset : str
        Archive dataset (``klines``, ``aggTrades``, ``metrics``, ``fundingRate``, ...).
    symbols : tuple of str
        Binance symbols (``BTCUSDT``).
    since, until : date
        First and last UTC day, inclusive.
    segment : {"um", "spot", "cm"}
        USDⓈ-M futures, spot, or COIN-M futures.
    interval : str, optional
        Bar interval of the kline datasets (``1m``, ``5m``, ``1h``, ...).
    monthly : bool
        Use monthly files for calendar months wholly inside the range, where Binance publishes them
        (fewer requests); daily files for the rest. ``fundingRate`` is monthly only, always.
    """

    dataset: str
    symbols: tuple[str, ...]
    since: date
    until: date
    segment: Segment = "um"
    interval: str | None = None
    monthly: bool = False

    def validate(self) -> None:
        """Raise ``ValueError`` saying what is wrong with the request."""
        ds = DATASETS.get(self.dataset)
        if ds is None:
            raise ValueError(f"unknown dataset {self.dataset!r}; known: {', '.join(DATASETS)}")
        if self.segment not in ds.segments:
            raise ValueError(f"{self.dataset} is published for {'/'.join(ds.segments)}, not {self.segment}")
        if ds.kline and not self.interval:
            raise ValueError(f"{self.dataset} needs --interval (1m, 5m, 1h, ...)")
        if not ds.kline and self.interval:
            raise ValueError(f"{self.dataset} has no interval; leave --interval out")
        if not self.symbols:
            raise ValueError("name at least one symbol")
        if self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One file to fetch: its archive path (no leading slash), symbol and the day or month it covers."""

    path: str
    symbol: str
    period: Period
    label: str


@dataclass(frozen=True, slots=True)
class Gap:
    """A file the archive does not have (HTTP 404)."""

    path: str
    symbol: str
    label: str


@dataclass(frozen=True, slots=True)
class FileFailure:
    """A file that could not be fetched or verified; nothing was written for it."""

    path: str
    error: PerpscopeError


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """Progress so far: files finished of the total, bytes downloaded, and the file last touched."""

    files_done: int
    files_total: int
    bytes_done: int
    path: str


@dataclass
class DownloadReport:
    """Outcome of a download: files written, already present (skipped), gaps and errors."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    errors: list[FileFailure] = field(default_factory=list)
    bytes_downloaded: int = 0

    @classmethod
    def merged(cls, reports: list[DownloadReport]) -> DownloadReport:
        """One report of several (a download split into tasks), each list sorted as :meth:`Downloader.run`
        sorts it."""
        out = cls()
        for r in reports:
            out.written += r.written
            out.skipped += r.skipped
            out.gaps += r.gaps
            out.errors += r.errors
            out.bytes_downloaded += r.bytes_downloaded
        out.written.sort()
        out.skipped.sort()
        out.gaps.sort(key=lambda g: g.path)
        out.errors.sort(key=lambda e: e.path)
        return out

    @property
    def files(self) -> list[Path]:
        """Every verified file on disk for the request (written or skipped), sorted."""
        return sorted([*self.written, *self.skipped])

    @property
    def ok(self) -> bool:
        return not self.errors


ProgressFn = Callable[[DownloadProgress], None]


def plan_files(req: DownloadRequest) -> list[ArchiveFile]:
    """Archive files covering the request, per symbol in date order."""
    req.validate()
    ds = DATASETS[req.dataset]
    out: list[ArchiveFile] = []
    for sym in (s.strip().upper() for s in req.symbols):
        for period, day in _periods(req.since, req.until, ds.periods, req.monthly):
            label = day.strftime("%Y-%m-%d") if period == "daily" else day.strftime("%Y-%m")
            p = archive_path(req.segment, period, req.dataset, sym, day, req.interval)
            out.append(ArchiveFile(p, sym, period, label))
    return out


def _periods(
    since: date, until: date, periods: tuple[Period, ...], monthly: bool
) -> Iterator[tuple[Period, date]]:
    """(period, first day) pairs: monthly where wanted/required, daily otherwise."""
    if "daily" not in periods:  # monthly only: every month touching the range
        m = since.replace(day=1)
        while m <= until:
            yield "monthly", m
            m = _next_month(m)
        return
    day = since
    while day <= until:
        month_end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        if monthly and "monthly" in periods and day.day == 1 and month_end <= until:
            yield "monthly", day
            day = month_end + timedelta(days=1)
        else:
            yield "daily", day
            day += timedelta(days=1)


def _next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


class _Missing(Exception):
    """HTTP 404."""


@dataclass
class _Shared:
    """State shared by the worker threads (guarded by ``lock``)."""

    report: DownloadReport
    total: int
    progress: ProgressFn | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0

    def add_bytes(self, n: int, path: str) -> None:
        with self.lock:
            self.report.bytes_downloaded += n
            self._emit(path)

    def finish(self, path: str, kind: Literal["written", "skipped", "gap", "error"], item: object) -> None:
        with self.lock:
            getattr(self.report, {"gap": "gaps", "error": "errors"}.get(kind, kind)).append(item)
            self.done += 1
            self._emit(path)

    def _emit(self, path: str) -> None:
        if self.progress:
            self.progress(DownloadProgress(self.done, self.total, self.report.bytes_downloaded, path))


@dataclass(frozen=True)
class Downloader:
    """Fetches archive files over HTTP(S) with checksum verification, resume and bounded retries.

    Parameters
    ----------
    dest : Path
        Folder the archive layout is mirrored into.
    base_url : str
        Archive root (default ``https://data.binance.vision``; tests use a loopback server).
    client : httpx.Client, optional
        HTTP client to use (default: one per :meth:`run`, with ``timeout_s``).
    retries : int
        Attempts per request for transient failures (5xx, 418/429, timeouts, broken connections).
    backoff_s : float
        First retry delay; doubled on each further attempt, ±50% jitter, capped at 30 s (a server's
        ``Retry-After`` is taken instead): :class:`~perpscope.venues.retry.RetryPolicy`.
    timeout_s : float
        Connect/read timeout of the default client.
    workers : int
        Files fetched concurrently.
    sleep : callable
        ``time.sleep``, injectable for tests.
    """

    dest: Path
    base_url: str = DEFAULT_BASE_URL
    client: httpx.Client | None = None
    retries: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 60.0
    workers: int = 4
    sleep: Callable[[float], None] = time.sleep

    def run(self, req: DownloadRequest, progress: ProgressFn | None = None) -> DownloadReport:
        """Download every file of ``req``; see the module docstring for what happens to each."""
        return self.fetch(plan_files(req), progress)

    def fetch(self, files: list[ArchiveFile], progress: ProgressFn | None = None) -> DownloadReport:
        """Download ``files`` (from :func:`plan_files`; a cluster task fetches its share of them)."""
        shared = _Shared(DownloadReport(), len(files), progress)
        client = self.client or httpx.Client(
            timeout=self.timeout_s, follow_redirects=True, headers={"User-Agent": f"perpscope/{__version__}"}
        )
        try:
            if self.workers <= 1 or len(files) <= 1:
                for f in files:
                    self._one(client, f, shared)
            else:
                with ThreadPoolExecutor(max_workers=self.workers) as pool:
                    list(pool.map(lambda f: self._one(client, f, shared), files))
        finally:
            if self.client is None:
                client.close()
        r = shared.report
        r.written.sort()
        r.skipped.sort()
        r.gaps.sort(key=lambda g: g.path)
        r.errors.sort(key=lambda e: e.path)
        return r

    # -- one file ----------------------------------------------------------------------------------
    def _one(self, client: httpx.Client, f: ArchiveFile, shared: _Shared) -> None:
        target = self.dest / f.path
        try:
            outcome = self._fetch(client, f, target, shared)
        except _Missing:
            shared.finish(f.path, "gap", Gap(f.path, f.symbol, f.label))
        except PerpscopeError as exc:
            shared.finish(f.path, "error", FileFailure(f.path, exc))
        except httpx.HTTPError as exc:  # anything httpx raises that is not a retryable transport error
            err = VenueError(f"{self._url(f.path)}: {type(exc).__name__}: {exc}")
            shared.finish(f.path, "error", FileFailure(f.path, err))
        except OSError as exc:
            err = VenueError(f"{f.path}: cannot write under {self.dest}: {exc}")
            shared.finish(f.path, "error", FileFailure(f.path, err))
        else:
            shared.finish(f.path, outcome, target)

    def _fetch(
        self, client: httpx.Client, f: ArchiveFile, target: Path, shared: _Shared
    ) -> Literal["written", "skipped"]:
        kept = target.with_name(target.name + ".CHECKSUM")
        if target.exists() and kept.exists():
            try:
                if _sha256(target) == _parse_checksum(kept.read_text(), target.name, f.path):
                    return "skipped"
            except ChecksumError:
                pass  # a damaged kept checksum: fetch it again
        text = self._get_text(client, f.path + ".CHECKSUM")
        expected = _parse_checksum(text, target.name, f.path + ".CHECKSUM")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and _sha256(target) == expected:
            _write_atomic(kept, text.encode())
            return "skipped"
        part = target.with_name(target.name + ".part")
        ranged: list[bool] = []  # set when the bytes were put together from more than one response
        got = self._retrying(lambda: self._stream(client, f.path, part, shared, ranged), f.path)
        if got != expected and ranged:  # the earlier partial bytes may be the bad ones: start over once
            part.unlink(missing_ok=True)
            got = self._retrying(lambda: self._stream(client, f.path, part, shared, []), f.path)
        if got != expected:
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f.path,
                f"SHA-256 of the download is {got}, the published .CHECKSUM says {expected}",
                hint="nothing was written for this file; run the download again",
            )
        with part.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(part, target)
        _write_atomic(kept, text.encode())
        return "written"

    def _stream(
        self, client: httpx.Client, path: str, part: Path, shared: _Shared, ranged: list[bool]
    ) -> str:
        """One GET of ``path`` into ``part``, with a Range request when ``part`` has bytes."""
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        url = self._url(path)
        try:
            with client.stream("GET", url, headers=headers) as resp:
                status = resp.status_code
                if status == 404:
                    raise _Missing(path)
                if status == 416 and have:  # nothing left to fetch: the part may be whole already
                    return _sha256(part)
                if status in _RETRY_STATUS:
                    raise _transient(resp)
                if status not in (200, 206):
                    raise VenueError(f"{url}: HTTP {status}, expected 200")
                h = hashlib.sha256()
                if status == 206 and have:
                    start = _content_range_start(resp.headers.get("content-range", ""))
                    if start != have:
                        raise VenueError(f"{url}: asked for bytes from {have}, the server sent from {start}")
                    _hash_file(part, h)
                    ranged.append(True)
                    mode = "ab"
                else:  # 200: the server ignored the Range (or none was sent): start over
                    mode = "wb"
                with part.open(mode) as fh:
                    for chunk in resp.iter_bytes():  # as received, so a cut keeps what came
                        fh.write(chunk)
                        h.update(chunk)
                        shared.add_bytes(len(chunk), path)
                return h.hexdigest()
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise Transient(f"{type(exc).__name__}: {exc}") from exc

    def _get_text(self, client: httpx.Client, path: str) -> str:
        def once() -> str:
            url = self._url(path)
            try:
                resp = client.get(url)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                raise Transient(f"{type(exc).__name__}: {exc}") from exc
            if resp.status_code == 404:
                raise _Missing(path)
            if resp.status_code in _RETRY_STATUS:
                raise _transient(resp)
            if resp.status_code != 200:
                raise VenueError(f"{url}: HTTP {resp.status_code}, expected 200")
            return resp.text

        return self._retrying(once, path)

    def _retrying(self, fn: Callable[[], str], path: str) -> str:
        policy = RetryPolicy(self.retries, self.backoff_s)
        try:
            return policy.call(fn, sleep=self.sleep)
        except Transient as last:
            raise VenueError(
                f"{self._url(path)}: {last.reason} after {policy.attempts} attempts; the archive may be "
                "busy, run the download again later (finished files are kept, partial ones resume)"
            ) from None

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path}"


def download_archive(
    req: DownloadRequest,
    dest: Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    progress: ProgressFn | None = None,
    client: httpx.Client | None = None,
    retries: int = 5,
    backoff_s: float = 1.0,
    workers: int = 4,
) -> DownloadReport:
    """Download ``req`` into ``dest`` (archive layout); see :class:`Downloader`.

    Examples
    --------
    >>> req = DownloadRequest("klines", ("BTCUSDT",), date(2024, 1, 1), date(2024, 1, 31), interval="1m")
    >>> report = download_archive(req, Path("archive"))  # doctest: +SKIP
    >>> report.files, report.gaps, report.errors  # doctest: +SKIP
    """
    dl = Downloader(dest, base_url, client, retries=retries, backoff_s=backoff_s, workers=workers)
    return dl.run(req, progress)


def _transient(resp: httpx.Response) -> Transient:
    """A retryable answer (5xx, 418/429) as a :class:`Transient`, with the server's ``Retry-After``."""
    return Transient(f"HTTP {resp.status_code}", retry_after_s(resp.headers.get("Retry-After")))


def _parse_checksum(text: str, name: str, where: str) -> str:
    """SHA-256 hex from ``<sha256>  <name>``; the file name must be ``name``."""
    m = _SHA_RE.match(text.strip().splitlines()[0] if text.strip() else "")
    if not m:
        raise ChecksumError(where, f"expected '<sha256>  {name}', found {text[:100]!r}")
    if m.group(2) != name:
        raise ChecksumError(where, f"the checksum is for {m.group(2)}, expected {name}")
    return m.group(1).lower()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    _hash_file(path, h)
    return h.hexdigest()


def _hash_file(path: Path, h: _Hasher) -> None:
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)


def _content_range_start(value: str) -> int | None:
    m = re.match(r"^\s*bytes\s+(\d+)-", value)
    return int(m.group(1)) if m else None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
