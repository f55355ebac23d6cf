"""A cache of what each month file holds, so ``perpscope store info`` does not parse 3,000 footers
on every call.

Per month file: its :class:`~perpscope.store.summary.Segment` list, keyed by the file's path relative
to the store, its size and its modification time (ns). The lake replaces a month file by renaming a
new one over it, so a rewritten file has a new mtime and is parsed again; a deleted file drops out
when the cache is saved. Stored as JSON (``.summary-cache.json`` at the store's root, beside
``.lock``): data only, nothing executable, safe to ship with a shared store. A cache that cannot be
read (absent, another version, damaged) is ignored; one that cannot be written (a read-only store)
is skipped — both only cost the time the cache saves.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from perpscope.store.summary import Segment

CACHE_NAME = ".summary-cache.json"
#: Bumped whenever :class:`Segment` or the way it is derived changes: older caches are ignored.
VERSION = 1


class SegmentCache:
    """Segments of month files by ``(relative path, size, mtime_ns)``; see the module notes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / CACHE_NAME
        self._old: dict[str, list[Any]] = {}
        self._new: dict[str, list[Any]] = {}
        self._dirty = False
        with contextlib.suppress(OSError, orjson.JSONDecodeError, TypeError, KeyError):
            doc = orjson.loads(self.path.read_bytes())
            if doc["version"] == VERSION:
                self._old = doc["files"]

    def _stamp(self, path: str) -> tuple[str, int, int]:
        st = os.stat(path)
        return os.path.relpath(path, self.root), st.st_size, st.st_mtime_ns

    def get(self, path: str) -> list[Segment] | None:
        """The cached segments of ``path`` when the file is unchanged since they were stored."""
        from perpscope.store.summary import Segment

        rel, size, mtime = self._stamp(path)
        hit = self._old.get(rel)
        if hit is None or hit[0] != size or hit[1] != mtime:
            return None
        self._new[rel] = hit
        return [
            Segment(tuple(k), rows, first, last, fi, tuple(ivs), holes)
            for k, rows, first, last, fi, ivs, holes in hit[2]
        ]

    def put(self, path: str, segments: list[Segment]) -> None:
        rel, size, mtime = self._stamp(path)
        self._new[rel] = [size, mtime, [list(astuple(s)) for s in segments]]
        self._dirty = True

    def save(self, complete: bool) -> None:
        """Write the cache atomically (nothing when nothing changed). ``complete``: this run saw every
        file of the store, so entries of files it did not see (deleted ones) are dropped."""
        files = self._new if complete else {**self._old, **self._new}
        if not self._dirty and files.keys() == self._old.keys():
            return
        with contextlib.suppress(OSError):
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".summary-cache.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(orjson.dumps({"version": VERSION, "files": files}))
                os.chmod(tmp, 0o644)  # as readable as the month files beside it (mkstemp makes 0600)
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise


class ObjectSegmentCache(SegmentCache):
    """The cache of an object-store lake's parts, kept on this machine (``root``: the lake's local side
    folder, :func:`perpscope.store.location.local_side_dir`), never in the bucket.

    A part is immutable and uniquely named (a rewritten month is a new object with a new name,
    :mod:`perpscope.store.object_lake`), so its URL alone keys an entry: no size or mtime to look up,
    which on S3 would be a request per part.
    """

    def __init__(self, root: Path, url: str) -> None:
        super().__init__(root)
        self.url = url.rstrip("/") + "/"

    def _stamp(self, path: str) -> tuple[str, int, int]:
        return path.removeprefix(self.url), 0, 0

    def save(self, complete: bool) -> None:
        with contextlib.suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)
        super().save(complete)
