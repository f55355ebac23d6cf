"""``perpscope import --cluster``: the importer fanned out, one task per input file.

Each task runs the ordinary importer (:func:`perpscope.ingest.importer.import_paths`) on its file into
the lake at ``location``: the file's rows commit whole or not at all, through the lake's own commit
(a renamed stage under a lock on a folder; immutable parts and a conditional manifest put on S3,
``docs/scale.md``). Tasks writing one partition at once retry their commit on top of each other and
lose nothing; a task rerun after its worker died re-imports its file, which adds nothing twice (the
importer is idempotent). Every worker must see the files at the same path (a shared folder).

A user's column mapping (``import --mapping FILE``) travels with each task as its TOML text, checked on
the client first and parsed again on the worker (:func:`mapping_format`): the worker need not see the
mapping file, and the checked spec itself is not pickled (its "no constant" marker is an ``object()``
whose identity a pickle round trip would not keep).
"""

from __future__ import annotations

import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path

from perpscope.ingest.importer import ImportReport, import_paths
from perpscope.store import open_lake
from perpscope.venues.base import FileFormat
from perpscope.venues.csv.mapping import MappedFormat
from perpscope.venues.csv.spec import spec_from_dict
from perpscope.venues.registry import all_formats


@dataclass(frozen=True)
class Mapping:
    """A user's column mapping as sent to workers: where it came from (named in errors) and its TOML."""

    origin: str
    toml: str

    @classmethod
    def read(cls, path: Path) -> Mapping:
        return cls(str(path), path.read_text(encoding="utf-8"))


def mapping_format(mapping: Mapping) -> MappedFormat:
    """The format a :class:`Mapping` defines (``InputError`` naming its file when it is invalid)."""
    return MappedFormat(spec_from_dict(tomllib.loads(mapping.toml), mapping.origin))


@dataclass(frozen=True)
class ImportTask:
    """Import ``path`` (one file) into the lake at ``location`` (``fmt``: a format name, or sniffed;
    ``mapping``: a user's format, tried before the built-in ones as on a single machine)."""

    location: str
    path: str
    fmt: str | None = None
    mapping: Mapping | None = None

    @property
    def key(self) -> str:
        """A readable, unique name for the scheduler (the mapping's text is part of the task)."""
        ident = self.path + (self.mapping.toml if self.mapping else "") + (self.fmt or "")
        return f"import-{Path(self.path).name}-{zlib.crc32(ident.encode()):08x}"


def task_formats(task: ImportTask) -> list[FileFormat]:
    """The formats ``task``'s file is recognised among: the user's mapping first, then the built-in."""
    formats: list[FileFormat] = all_formats()
    return [mapping_format(task.mapping), *formats] if task.mapping else formats


def run_import(task: ImportTask) -> ImportReport:
    """The importer's report of ``task``'s file (errors are in the report, as for a local import)."""
    lake = open_lake(task.location)
    return import_paths([Path(task.path)], lake, fmt=task.fmt, formats=task_formats(task))


def merged(reports: list[ImportReport]) -> ImportReport:
    """One report of many tasks' reports: their files and writes, and the recoveries summed."""
    out = ImportReport()
    for r in reports:
        out.files.extend(r.files)
        out.writes.extend(r.writes)
        out.recovery = out.recovery.plus(r.recovery)
    return out
