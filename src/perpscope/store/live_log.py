"""The live collector's write-ahead log: a flush is committed by one append and one fdatasync.

A live flush written as Parquet part files (:func:`perpscope.store.parts.append`) costs a temporary
file, its fsync, a rename and a folder fsync *per partition* — about 6 ms per file on this disk, and a
flush of the all-market liquidation stream touches hundreds of partitions. Appending the same rows to a
file that is already open and calling ``fdatasync`` costs p50 0.20 ms, p99 0.25–0.39 ms for 200 kB
(measured here). So the collector commits each flush to a log and folds the log into part files later.

Layout
------
One log per record type and collector session, cut into segments::

    <root>/<record>/_live/<session>-<segment>.arrows

``session`` is ``<start ns, 20 digits>-<pid>-<random>``, ``segment`` a six-digit counter, so a folder
listing sorts sessions in start order and a session's segments in write order. A segment is an **Arrow
IPC stream** without its end marker: the record's schema, then one record batch per flush (its
buffers LZ4-compressed), each the flush's rows of that record (all venues and symbols, conformed and
stamped with their ``source`` as a part would store them). Each flush is one ``write`` of the
batch's encapsulated IPC message (length prefixed) followed by ``fdatasync``; a new segment's folder
entry is made durable once, when it is created.

Committed
---------
A flush is **committed** when its ``fdatasync`` has returned: it is then durable and readers see it.
Readers see a batch as soon as its ``write`` returned, possibly up to one ``fdatasync`` (≤ 0.4 ms)
before it is durable. That is deliberate and matches the part path, whose parts became visible at
their rename, before the folder fsync made the rename durable: the page cache survives a ``kill -9``
of the collector, so a batch a reader saw is lost only by an operating-system crash or power loss
inside that window — and a reader that waited for the fsync would need a second file (a published
committed length) written per flush, read on every read, for no gain against a process crash.

Reading
-------
:func:`live_rows` returns the whole batches of every segment, in session, segment and batch order,
stopping at the first message that is not whole: a torn tail (``kill -9`` inside a ``write``, or a
batch still being written while the reader reads) is ignored. Readers put these rows after a month's
part files (they are newer than every part written before the log was sealed) and apply the store's
usual rule, one row per natural key with the newest write winning
(:func:`perpscope.store.parts.newest_rows`).

Sealing
-------
:func:`seal` turns a segment into Parquet parts with the existing :func:`~perpscope.store.parts.append`
(one fsynced part per partition and month; compaction folds those as it folds any part), then deletes
the segment and fsyncs its folder. The collector rotates to a new segment and seals the old one in its
sealer process (:mod:`perpscope.store.sealer`) when it holds :data:`SEAL_BYTES` or is :data:`SEAL_AGE_S`
old, and seals its last
segment on stop; ``perpscope store compact`` (:func:`seal_orphans`) seals the segments of collectors
that are gone. A segment's writer holds an exclusive ``flock`` on it from creation until it is sealed,
so a live segment is never taken for an orphan; the sealer of an orphan takes the same lock.

Crash safety: a kill before the parts are renamed in leaves the segment (and at most temporaries the
next writer sweeps); a kill after the parts are in and before the segment is deleted leaves the rows in
both, which readers deduplicate (same keys, same values), and the next seal of that segment writes them
again as newer parts, deduplicated the same way and folded by compaction: nothing lost, nothing read
twice. Before sealing an orphan the sealer truncates its torn tail.

Precedence: sealed parts are named after the seal's time, so the rows of a log win over any part or
month file written before the seal — the order in which the collector received them relative to other
*live* writes. An import of rows with the *same* key (the same ``source``) while a log holds them
unsealed loses to the log's rows; live rows carry ``source = stream:<venue>``, which no import writes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from perpscope.core.errors import StoreError
from perpscope.records import RECORDS, RecordType
from perpscope.store import commit
from perpscope.store.lake import Lake

#: The folder of a record's logs, inside the record's folder (never matched by ``venue=*`` globs).
LIVE_DIR = "_live"
#: A log segment's file suffix (an Arrow IPC stream).
LOG_SUFFIX = ".arrows"
#: A segment is sealed into parts once it holds this many bytes (readers read the whole unsealed log:
#: 32 MB is ~0.4 M trades, read in ~10 ms) …
SEAL_BYTES = 32 * 2**20
#: … or once it is this old (seconds): live rows reach the Parquet files within about this delay.
SEAL_AGE_S = 30.0


def log_dir(lake: Lake, record: RecordType | str) -> Path:
    """The folder holding ``record``'s log segments."""
    return lake.record_dir(record) / LIVE_DIR


def log_files(lake: Lake, record: RecordType | str) -> list[Path]:
    """``record``'s log segments, oldest first (session start, then segment)."""
    try:
        names = sorted(
            e.name
            for e in os.scandir(log_dir(lake, record))
            if e.name.endswith(LOG_SUFFIX) and e.name[0] != "."
        )
    except (FileNotFoundError, NotADirectoryError):
        return []
    d = log_dir(lake, record)
    return [d / n for n in names]


# -- reading ---------------------------------------------------------------------------------------
def read_segment(data: bytes | pa.Buffer) -> tuple[pa.Table | None, int]:
    """The whole batches of one segment's bytes and the offset where they end (a torn or unfinished
    tail, or a tail of zeros, is left out); ``(None, 0)`` when not even its schema is whole.

    Two passes: the messages' framing alone finds where the whole ones end (~2 ms for a 32 MB
    segment), then Arrow's stream reader decodes them in one call, on this thread. Decoding message
    by message from Python took 0.30-0.45 s of CPU for a full segment (2,750 batches; Arrow's pool
    decompressed each batch's buffers on other threads), the stream reader 0.16 s. Should the reader
    refuse bytes the framing passed, they are decoded message by message, as before."""
    buf = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    reader = pa.BufferReader(buf)
    try:
        schema = pa.ipc.read_schema(pa.ipc.read_message(reader))
    except (OSError, EOFError, pa.ArrowException):
        return None, 0
    end, batches = reader.tell(), 0
    while True:
        try:
            msg = pa.ipc.read_message(reader)
        except (OSError, EOFError, pa.ArrowException):  # the end, or a message not (yet) whole
            break
        if msg.type != "record batch":
            break
        batches += 1
        end = reader.tell()
    try:
        stream = pa.ipc.open_stream(buf.slice(0, end), options=_ONE_THREAD)
        table = stream.read_all()
        if stream.stats.num_record_batches == batches and table.schema.equals(schema):
            return table, end
    except (OSError, EOFError, pa.ArrowException):
        pass
    return _read_messages(buf, schema)


def _read_messages(buf: pa.Buffer, schema: pa.Schema) -> tuple[pa.Table, int]:
    """:func:`read_segment` message by message: the batches up to the first that does not decode."""
    reader = pa.BufferReader(buf)
    pa.ipc.read_message(reader)  # the schema
    end = reader.tell()
    batches = []
    while True:
        try:
            msg = pa.ipc.read_message(reader)
            batch = pa.ipc.read_record_batch(msg, schema)
        except (OSError, EOFError, pa.ArrowException):
            break
        batches.append(batch)
        end = reader.tell()
    return pa.Table.from_batches(batches, schema=schema), end


#: A segment is decoded on the calling thread: a sealer must not spread over every core (the collector
#: needs one), and a reader's segment is small.
_ONE_THREAD = pa.ipc.IpcReadOptions(use_threads=False)


def _read_file(path: Path) -> pa.Table | None:
    try:
        with path.open("rb") as fh:
            data = fh.read()
    except FileNotFoundError:  # sealed meanwhile: its rows are in parts now
        return None
    return read_segment(data)[0]


def live_rows(
    lake: Lake,
    record: RecordType | str,
    venue: str | None = None,
    canonical: str | Iterable[str] | None = None,
) -> pl.DataFrame | None:
    """The committed rows of ``record``'s logs, in write order (the newest last), optionally of one
    venue and canonical symbol(s); None when there are none. Rows are as a part stores them (conformed,
    ``source`` stamped); a key may repeat (the newest write wins, as among parts)."""
    rt = RECORDS[record] if isinstance(record, str) else record
    files = log_files(lake, rt)
    if not files:
        return None
    tables = [t for t in (_read_file(f) for f in files) if t is not None and t.num_rows]
    if not tables:
        return None
    df = rt.conform(pl.from_arrow(pa.concat_tables(tables, promote_options="permissive")))  # type: ignore[arg-type]
    if venue is not None:
        df = df.filter(pl.col("venue") == venue)
    if canonical is not None:
        canons = [canonical] if isinstance(canonical, str) else list(canonical)
        df = df.filter(pl.col("canonical").is_in(canons))
    return df if df.height else None


def live_partitions(lake: Lake, record: RecordType | str) -> list[tuple[str, str]]:
    """(venue, canonical) pairs that have committed log rows of ``record``."""
    df = live_rows(lake, record)
    if df is None:
        return []
    return [
        (str(v), str(c))
        for v, c in df.select("venue", "canonical").unique().sort(["venue", "canonical"]).iter_rows()
    ]


def fingerprint_entries(lake: Lake) -> list[str]:
    """``path:size`` of every log segment (a store version changes when a batch is appended)."""
    out = []
    for name in RECORDS:
        for f in log_files(lake, name):
            with contextlib.suppress(FileNotFoundError):
                out.append(f"{f.relative_to(lake.root)}:{f.stat().st_size}")
    return out


# -- writing ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Encoded:
    """A flush's rows of one record as one IPC batch message (:meth:`LiveLog.encode`): the schema it
    was encoded for, the message's bytes, its rows."""

    schema: pa.Schema
    message: bytes | memoryview
    rows: int


@dataclass
class Segment:
    """An open log segment: its file (held under an exclusive ``flock``), what it holds, when it began."""

    path: Path
    fd: int
    schema: pa.Schema | None = None
    rows: int = 0
    bytes: int = 0
    opened: float = field(default_factory=time.monotonic)
    dirty: bool = False
    #: an orphan's whole batches and where they end (:func:`read_segment`), as :func:`_take_orphan`
    #: decoded them to cut its torn tail: :func:`seal` uses them rather than reading and decoding the
    #: file a second time (one decode of a 33.6 MB segment: 133–142 ms of the sealer's CPU)
    decoded: tuple[pa.Table | None, int] | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # releases the lock
            self.fd = -1


def new_session() -> str:
    """A collector session's name: its start in ns, its pid and a random tag (sorts in start order)."""
    return f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class LiveLog:
    """One collector session's log of one record (see the module notes).

    :meth:`write` appends a flush's rows (one ``write`` call), :meth:`sync` makes every written batch
    durable (one ``fdatasync``): a flush is committed when both returned. Not thread-safe: one writer.
    """

    def __init__(self, lake: Lake, record: RecordType, session: str, *, fsync: bool = True) -> None:
        self.lake = lake
        self.record = record
        self.session = session
        self.fsync = fsync
        self.segment: Segment | None = None
        self._next = 0

    def _open(self) -> Segment:
        d = log_dir(self.lake, self.record)
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{self.session}-{self._next:06d}{LOG_SUFFIX}"
        self._next += 1
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)  # a live segment: sealers of orphans leave it alone
        seg = Segment(path, fd)
        if self.fsync:
            commit.fsync_dir(d)  # the segment's name durable before any batch is acknowledged in it
        return seg

    def write(self, df: pl.DataFrame) -> int:
        """Append ``df``'s rows (conformed to the record, ``source`` stamped) as one batch; return the
        bytes written. Not durable before :meth:`sync`. :meth:`encode` then :meth:`append`."""
        return self.append(self.encode(df))

    def encode(self, df: pl.DataFrame) -> Encoded | None:
        """``df``'s rows as the batch message :meth:`append` writes (cast to the open segment's schema);
        None when there are none. Only CPU work: the collector encodes a small flush on its event loop
        and appends it in its writer thread, where each call that gives up the GIL waits to get it back.
        The segment must not be rotated between the two calls."""
        if df.is_empty():
            return None
        table = df.to_arrow()
        seg = self.segment
        schema = seg.schema if seg is not None and seg.schema is not None else table.schema
        if table.schema != schema:
            table = table.cast(schema)
        batches = table.to_batches()
        batch = batches[0] if len(batches) == 1 else table.combine_chunks().to_batches()[0]
        return Encoded(schema, _batch_message(schema, batch), df.height)

    def append(self, encoded: Encoded | None) -> int:
        """Write an :meth:`encode`-d batch (one ``write``); return the bytes written. Not durable before
        :meth:`sync`."""
        if encoded is None:
            return 0
        seg = self.segment
        if seg is None:
            seg = self.segment = self._open()
        if seg.schema is None:
            head = encoded.schema.serialize().to_pybytes()
        elif encoded.schema == seg.schema:
            head = b""
        else:  # encoded for another segment (one rotated in between): never written under a wrong schema
            raise StoreError(f"live log {seg.path}: a batch encoded for another schema")
        data = head + encoded.message if head else encoded.message
        view = memoryview(data)
        try:
            while view:  # one write for a whole batch (a short write only on a full disk)
                n = os.write(seg.fd, view)
                view = view[n:]
        except BaseException:
            self._abandon(seg)
            raise
        seg.schema = encoded.schema
        seg.rows += encoded.rows
        seg.bytes += len(data)
        seg.dirty = True
        return len(data)

    def _abandon(self, seg: Segment) -> None:
        """After a failed write: cut the file back to its last whole batch (a torn batch inside a segment
        would hide every batch after it); if even that fails, leave the segment to the sealer of orphans
        (which truncates it) and write on in a new one."""
        try:
            os.ftruncate(seg.fd, seg.bytes)
        except OSError:
            seg.close()
            self.segment = None

    def sync(self) -> None:
        """Make the written batches durable (``fdatasync``): they are committed when this returns."""
        seg = self.segment
        if seg is not None and seg.dirty:
            if self.fsync:
                try:
                    os.fdatasync(seg.fd)
                except OSError:
                    # after a failed fdatasync the file's cached pages cannot be trusted to reach the
                    # disk: its batches go to the sealer of orphans, the retried rows to a new segment
                    seg.close()
                    self.segment = None
                    raise
            seg.dirty = False

    def due(self, max_bytes: int = SEAL_BYTES, max_age_s: float = SEAL_AGE_S) -> bool:
        """True when the open segment should be sealed (it holds ``max_bytes`` or is ``max_age_s`` old)."""
        seg = self.segment
        return (
            seg is not None
            and seg.rows > 0
            and (seg.bytes >= max_bytes or time.monotonic() - seg.opened >= max_age_s)
        )

    def rotate(self) -> Segment | None:
        """Detach the open segment (synced, still open and locked) for :func:`seal`; the next write
        opens a new one."""
        self.sync()
        seg, self.segment = self.segment, None
        return seg


def _batch_message(schema: pa.Schema, batch: pa.RecordBatch) -> memoryview:
    """``batch`` as one encapsulated IPC message, its buffers LZ4-compressed: a third of the bytes
    (live trades are repetitive strings) for ~0.1 ms per 400-row flush, so a segment holds three times
    the rows before it is sealed. The stream writer is the public way to compress a message; the schema
    it writes first is cut off (the segment has it once)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=_LZ4) as w:
        w.write_batch(batch)  # the schema message first (written with the first batch), then the batch
        end = sink.tell()  # before the end-of-stream marker the close adds
    head = len(schema.serialize())
    return memoryview(sink.getvalue())[head:end]  # the Arrow buffer's bytes, not copied twice


_LZ4 = pa.ipc.IpcWriteOptions(compression="lz4", use_threads=False)


def seal(lake: Lake, record: RecordType, segment: Segment | Path) -> tuple[int, tuple[Path, ...]]:
    """Write a segment's committed rows as Parquet parts, then delete it; return the rows sealed and
    the parts written.

    ``segment``: a rotated :class:`Segment` (its writer's lock still held), or an orphan's path (its lock
    is taken here; a segment whose writer still holds it is left alone and 0 returned). See the module
    notes for why a kill at any point loses nothing and shows nothing twice.
    """
    from perpscope.store.parts import append

    if isinstance(segment, Path):
        seg = _take_orphan(segment)
        if seg is None:
            return 0, ()
    else:
        seg = segment
    try:
        if seg.decoded is not None:  # an orphan decoded when it was taken (its tail cut there)
            (table, end), seg.decoded = seg.decoded, None
            size = os.fstat(seg.fd).st_size
        else:
            with open(seg.fd, "rb", closefd=False) as fh:
                fh.seek(0)
                data = fh.read()
            (table, end), size = read_segment(data), len(data)
            del data
        if end != size:  # a rotated segment is whole, an orphan's torn tail was cut: never delete
            raise StoreError(  # rows that could not be read
                f"live log {seg.path}: bytes {end:,}–{size:,} of {size:,} are not whole batches; "
                "the segment is left in place (readers see its whole batches)"
            )
        files: tuple[Path, ...] = ()
        if table is not None and table.num_rows:
            # the rows as they were committed (conformed, stamped), in write order: newest last
            # one chunk first: a segment's ~2,750 batches as chunks made every step after it (conform,
            # dedupe, the Parquet write) work chunk by chunk — 0.9 s of a seal's 1.2 s of CPU against
            # 0.2 s (1.1 M trades); the rows, their order and types are the same
            frame = pl.from_arrow(table.combine_chunks())
            files = append(lake, record, frame, fsync=True).files  # type: ignore[arg-type]
        with contextlib.suppress(FileNotFoundError):
            seg.path.unlink()  # after the parts are in: a kill before this leaves the rows twice, deduped
        commit.fsync_dir(seg.path.parent)
        return (0 if table is None else table.num_rows), files
    finally:
        seg.close()


def seal_path(root: str, record: str, path: str) -> tuple[int, tuple[Path, ...]]:
    """:func:`seal` of the closed segment at ``path`` of the store at ``root`` (plain values: the
    collector's sealer process, :mod:`perpscope.store.sealer`, calls this; the lock is taken here)."""
    return seal(Lake(root), RECORDS[record], Path(path))


def _take_orphan(path: Path) -> Segment | None:
    """Open and lock an orphaned segment (its writer gone), its torn tail truncated; None when its
    writer still holds it, or it was sealed meanwhile."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None  # a live writer's segment
        raise
    try:
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            raise FileNotFoundError(path)
    except FileNotFoundError:  # another sealer finished it between our open and our lock
        os.close(fd)
        return None
    with open(fd, "rb", closefd=False) as fh:
        table, end = read_segment(fh.read())
    if end < os.fstat(fd).st_size:
        os.ftruncate(fd, end)  # the torn tail of a write a kill cut short
        os.fsync(fd)
    return Segment(path, fd, decoded=(table, end))


@dataclass(frozen=True)
class SealResult:
    """What :func:`seal_orphans` did: segments sealed, rows written as parts, live segments left."""

    segments: int = 0
    rows: int = 0
    live: int = 0


def seal_orphans(lake: Lake, records: Iterable[str] | None = None) -> SealResult:
    """Seal every log segment whose collector is gone (crashed or killed); leave live ones."""
    segments = rows = live = 0
    for name in records if records is not None else RECORDS:
        rt = RECORDS[name]
        for f in log_files(lake, rt):
            seg = _take_orphan(f)
            if seg is None:
                live += f.exists()
                continue
            rows += seal(lake, rt, seg)[0]
            segments += 1
    return SealResult(segments, rows, live)


__all__ = [
    "LIVE_DIR",
    "LOG_SUFFIX",
    "SEAL_AGE_S",
    "SEAL_BYTES",
    "Encoded",
    "LiveLog",
    "SealResult",
    "Segment",
    "fingerprint_entries",
    "live_partitions",
    "live_rows",
    "log_dir",
    "log_files",
    "new_session",
    "read_segment",
    "seal",
    "seal_orphans",
    "seal_path",
]
