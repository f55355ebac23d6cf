"""Commit several staged month files as one: a durable commit record, then the renames it lists.

A writer stages each new month file as a fsynced temporary beside the file it replaces. To commit, it
writes the list of (temporary → month file) renames to ``<root>/.commit`` (itself written to a
temporary, fsynced and renamed, so the record is whole or absent), then performs the renames and
deletes the record. A crash before the record exists leaves only temporaries, which
:func:`sweep_temporaries` deletes; a crash after it is rolled forward by :func:`roll_forward` (each
rename is redone if its temporary is still there). Either way a commit's files become visible
together or not at all — which is what makes one imported file "whole or absent" across ``kill -9``.

Only the holder of the store's writer lock may call these functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

#: Marks a staged (temporary) file's name: ``.<month>.parquet.tmp-<pid>-<random>``.
TMP_MARK = ".tmp-"
#: The commit record at the store's root, present only while a commit is being applied.
RECORD = ".commit"
#: fsyncs issued at once. Each waits for the disk; issued together, the file system's journal makes
#: them durable in shared commits instead of one after the other (a batch of an import touches
#: hundreds of month files and folders).
FSYNC_WORKERS = 16


@dataclass(frozen=True)
class RecoveryReport:
    """What recovery did: commits completed, temporary files deleted and their size in bytes."""

    commits_completed: int = 0
    temporaries_removed: int = 0
    bytes_removed: int = 0

    def plus(self, other: RecoveryReport) -> RecoveryReport:
        return RecoveryReport(
            self.commits_completed + other.commits_completed,
            self.temporaries_removed + other.temporaries_removed,
            self.bytes_removed + other.bytes_removed,
        )


def pending(root: Path) -> bool:
    """True while a commit is being applied, or after a crash interrupted one."""
    return (root / RECORD).exists()


def apply(root: Path, staged: Mapping[Path, Path], removed: Iterable[Path] = ()) -> None:
    """Commit: ``staged`` maps each month file to its fsynced temporary; ``removed`` files go away."""
    renames = [[_rel(root, tmp), _rel(root, final)] for final, tmp in staged.items()]
    gone = sorted(_rel(root, p) for p in removed)
    # the temporaries' directory entries are durable before the record names them
    fsync_all({tmp.parent for tmp in staged.values()})
    tmp = root / f"{RECORD}{TMP_MARK}{os.getpid()}"
    with tmp.open("w") as fh:
        json.dump({"renames": renames, "removed": gone}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / RECORD)
    fsync_dir(root)  # the commit point
    roll_forward(root)


def roll_forward(root: Path) -> RecoveryReport:
    """Finish the commit recorded at ``root`` (if any): redo its renames and removals, drop the record."""
    record = root / RECORD
    try:
        spec = json.loads(record.read_text())
    except FileNotFoundError:
        return RecoveryReport()
    dirs: set[Path] = set()
    for tmp_rel, final_rel in spec["renames"]:
        tmp, final = root / tmp_rel, root / final_rel
        if tmp.exists():  # else this rename was done before the crash
            os.replace(tmp, final)
        dirs.add(final.parent)
    for rel in spec["removed"]:
        (root / rel).unlink(missing_ok=True)
        dirs.add((root / rel).parent)
    fsync_all(d for d in dirs if d.is_dir())  # every rename durable before the record goes
    record.unlink()
    fsync_dir(root)
    return RecoveryReport(commits_completed=1)


def sweep_temporaries(root: Path) -> RecoveryReport:
    """Delete temporary files that no commit will use (crashed writers' leftovers)."""
    n = size = 0
    for p in root.rglob(f"*{TMP_MARK}*"):
        if p.is_file():
            size += p.stat().st_size
            p.unlink(missing_ok=True)
            n += 1
    return RecoveryReport(temporaries_removed=n, bytes_removed=size)


def fsync_all(paths: Iterable[Path]) -> None:
    """fsync every file or folder of ``paths``, several at once; return once all are durable (the
    first failure is raised, after every fsync has finished)."""
    todo = list(paths)
    if len(todo) <= 1:
        for p in todo:
            fsync_dir(p)
        return
    with ThreadPoolExecutor(max_workers=min(FSYNC_WORKERS, len(todo))) as pool:
        for done in [pool.submit(fsync_dir, p) for p in todo]:
            done.result()


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (renames, new files) durable (or a file's data: the same call)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rel(root: Path, p: Path) -> str:
    return p.relative_to(root).as_posix()
