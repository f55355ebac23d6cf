"""``perpscope import --cluster``: the importer fanned out, one task per input file.

Each task runs the ordinary importer (:func:`perpscope.ingest.importer.import_paths`) on its file into
the lake at ``location``: the file's rows commit whole or not at all, through the lake's own commit
(a renamed stage under a lock on a folder; immutable parts and a conditional manifest put on S3,
``docs/scale.md``). Tasks writing one partition at once retry their commit on top of each other and
lose nothing; a task rerun after its worker died re-imports its file, which adds nothing twice (the
importer is idempotent). Every worker must see the files at the same path (a shared folder).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from perpscope.ingest.importer import ImportReport, import_paths
from perpscope.store import open_lake


@dataclass(frozen=True)
class ImportTask:
    """Import ``path`` (one file) into the lake at ``location`` (``fmt``: a format name, or sniffed)."""

    location: str
    path: str
    fmt: str | None = None

    @property
    def key(self) -> str:
        """A readable, unique name for the scheduler."""
        return f"import-{Path(self.path).name}-{zlib.crc32(self.path.encode()):08x}"


def run_import(task: ImportTask) -> ImportReport:
    """The importer's report of ``task``'s file (errors are in the report, as for a local import)."""
    return import_paths([Path(task.path)], open_lake(task.location), fmt=task.fmt)


def merged(reports: list[ImportReport]) -> ImportReport:
    """One report of many tasks' reports: their files and writes, and the recoveries summed."""
    out = ImportReport()
    for r in reports:
        out.files.extend(r.files)
        out.writes.extend(r.writes)
        out.recovery = out.recovery.plus(r.recovery)
    return out
