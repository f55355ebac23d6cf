"""``perpscope download --cluster``: the archive downloader fanned out, one task per archive file.

Each task fetches its file (:class:`perpscope.venues.archive.download.Downloader`: published SHA-256
checked, partial files resumed, transient errors retried) into ``dest`` on its worker, then imports it
into the lake at ``location`` with the ordinary importer — so a file commits whole or not at all, as in
``import --cluster`` (:mod:`perpscope.cluster.imports`). A task rerun after its worker died finds the
verified file already there (or resumes the partial one) and re-imports it, which adds nothing twice:
the lake ends as one run leaves it.

``dest`` is a folder on each worker (its own disk or a shared one); the lake is an ``s3://`` URL or a
folder every worker sees at the same path. The archive's 404s are gaps in the report, as on one machine.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from perpscope.ingest.importer import ImportReport, import_paths
from perpscope.store import open_lake
from perpscope.venues.archive.download import ArchiveFile, Downloader, DownloadReport


@dataclass(frozen=True)
class DownloadTask:
    """Fetch ``file`` from the archive at ``base_url`` into ``dest`` and, with ``do_import``, import it
    into the lake at ``location``. ``retries`` and ``backoff_s``: the downloader's, per request."""

    location: str
    dest: str
    base_url: str
    file: ArchiveFile
    do_import: bool = True
    retries: int = 5
    backoff_s: float = 1.0

    @property
    def key(self) -> str:
        """A readable, unique name for the scheduler."""
        ident = f"{self.base_url}/{self.file.path}->{self.dest}:{self.location}:{self.do_import}"
        return f"download-{Path(self.file.path).name}-{zlib.crc32(ident.encode()):08x}"


@dataclass(frozen=True)
class DownloadOutcome:
    """What one task did: the download's report (written, skipped, gap or error) and, when it imported
    a file, the importer's report."""

    download: DownloadReport
    imported: ImportReport | None


def run_download(task: DownloadTask) -> DownloadOutcome:
    """Download ``task``'s file, then import it when asked and it is verified on disk."""
    dl = Downloader(Path(task.dest), task.base_url, retries=task.retries, backoff_s=task.backoff_s, workers=1)
    report = dl.fetch([task.file])
    if not (task.do_import and report.files):
        return DownloadOutcome(report, None)
    return DownloadOutcome(report, import_paths(report.files, open_lake(task.location)))
