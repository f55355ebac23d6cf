"""The lake on object storage (``s3://bucket/prefix``): the same layout, written without rename or locks.

An object store has neither an atomic rename nor a lock, so the local commit (staged files renamed
under ``<root>/.lock``, :mod:`perpscope.store.commit`) cannot be used. Instead every partition
(``<record>/venue=<v>/symbol=<canonical>/``) is a log of manifests:

- a month's rows are written as an **immutable part object with a unique name**
  (``<yyyy-mm>.<random>.parquet``), never overwritten; an uploaded part is invisible until a manifest
  names it;
- ``_manifest/<seq>.json`` (``seq`` zero-padded, so listing order is commit order) names the part of
  every month of the partition; the newest manifest *is* the partition. A writer reads manifest ``n``,
  merges its rows into the months it touches (:func:`perpscope.store.lake.merge_month`, the local
  writer's merge), uploads the new parts, then creates manifest ``n + 1`` with a **conditional put**
  (``If-None-Match: *``, honoured by AWS S3, MinIO, Cloudflare R2 and moto). Exactly one of two writers
  racing for ``n + 1`` succeeds; the other gets ``412 Precondition Failed``, deletes its parts and
  redoes its merge on top of ``n + 1`` — so two writers never lose each other's rows.
- a crash before the manifest put leaves only unnamed parts (invisible; :meth:`ObjectLake.recover`
  deletes them once older than a grace period); a crash after it has committed. A partition is thus
  always some whole manifest: never half a write.

Manifests are small JSON files and are never deleted, so a writer holding an old ``n`` can never
recreate a pruned ``n + 1``. Superseded parts are deleted by :meth:`ObjectLake.recover` after
:data:`GRACE_MS` (a reader that listed them a moment earlier can still read them).

Atomicity is per partition, not per import batch: a crash between two partitions leaves the first
committed and the second as it was; writes are idempotent, so importing the same files again completes
the batch. Derived datasets (``panel/``, ``regimes/``) are one object per partition written by a single
PUT, which S3 makes visible whole or not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from perpscope.core.errors import StoreError
from perpscope.records import RECORDS, RecordType
from perpscope.store.commit import RecoveryReport
from perpscope.store.lake import (
    Lake,
    Transaction,
    WriteResult,
    _check_part,
    _split_by_month,
    merge_month,
    prepared,
    write_parquet,
)

#: URL schemes served by :class:`ObjectLake`.
SCHEMES = ("s3://",)
#: Folder of a partition's manifests.
MANIFESTS = "_manifest"
#: Unreferenced parts younger than this are left alone by :meth:`ObjectLake.recover` (a writer may be
#: between its uploads and its manifest put; a reader may be reading a part just superseded).
GRACE_MS = 15 * 60 * 1000
#: Attempts of one partition's commit against other writers before giving up.
COMMIT_ATTEMPTS = 50


def is_object_url(location: object) -> bool:
    """True when ``location`` names an object store (``s3://…``) rather than a local folder."""
    return isinstance(location, str) and location.startswith(SCHEMES)


def endpoint_url() -> str | None:
    """The S3 endpoint of a non-AWS service (MinIO, R2, a test server): ``$AWS_ENDPOINT_URL``."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def s3_filesystem() -> Any:
    """An ``s3fs`` filesystem configured the standard way (AWS credential chain, ``$AWS_ENDPOINT_URL``).

    Listings are not cached: the manifest log must be read as it is now, not as it was.
    """
    import s3fs  # here: only object-store runs pay for importing botocore

    kwargs: dict[str, Any] = {"use_listings_cache": False, "skip_instance_cache": True}
    if endpoint_url():
        kwargs["endpoint_url"] = endpoint_url()
    return s3fs.S3FileSystem(**kwargs)


def polars_storage_options() -> dict[str, str]:
    """Options for polars' native S3 reader: the same endpoint and credentials as :func:`s3_filesystem`."""
    opts: dict[str, str] = {}
    url = endpoint_url()
    if url:
        opts["aws_endpoint_url"] = url
        if url.startswith("http://"):
            opts["aws_allow_http"] = "true"
    for env, key in (
        ("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
        ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
        ("AWS_SESSION_TOKEN", "aws_session_token"),
    ):
        if os.environ.get(env):
            opts[key] = os.environ[env]
    opts["aws_region"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return opts


@dataclass(frozen=True)
class Manifest:
    """One committed state of a partition: its sequence number and the part object of each month."""

    seq: int
    files: dict[str, str]  # "yyyy-mm" → part object name within the partition folder

    def encode(self, writer: str) -> bytes:
        return json.dumps(
            {"seq": self.seq, "files": self.files, "writer": writer, "time_ms": int(time.time() * 1000)},
            sort_keys=True,
        ).encode()


class ObjectLake(Lake):
    """The lake at ``s3://bucket/prefix``: the reading surface of :class:`~perpscope.store.Lake`
    (``partitions``, ``month_files``, ``records_present``) and its writing surface (``write``,
    ``transaction``, ``recover``), on a manifest log per partition (see the module's docstring).

    It is a :class:`Lake` so every reader and front end takes it; ``root`` and the paths
    ``month_files`` returns are object keys (``bucket/prefix/…``) held as paths, so callers that take a
    month from a file's name or a venue from its folder work unchanged — they are never opened on the
    local disk: :meth:`uri` turns one into the URL a reader opens.
    """

    #: Its transactions upload each partition as written: nothing to encode ahead.
    encodes_ahead = False

    def __init__(self, url: str, fs: Any | None = None) -> None:
        if not is_object_url(url):
            raise StoreError(f"{url!r} is not an object-store URL ({', '.join(SCHEMES)}…)")
        self.url = url.rstrip("/")
        self.scheme = url.split("://", 1)[0]
        self.key_root = self.url.split("://", 1)[1]
        self.root = Path(self.key_root)
        self._swept = True
        self.fs = fs if fs is not None else s3_filesystem()
        self.writer_id = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.lost_commits = 0  # manifest puts another writer won (each redone on top of the winner)

    def __repr__(self) -> str:
        return f"ObjectLake({self.url!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # sent to cluster workers: each opens its own filesystem
        return (ObjectLake, (self.url,))

    # -- layout ------------------------------------------------------------------------------------
    def uri(self, key: Path | str) -> str:
        return f"{self.scheme}://{key}"

    def storage_options(self) -> dict[str, str]:
        return polars_storage_options()

    def record_dir(self, record: RecordType | str) -> Path:
        return self.root / (record if isinstance(record, str) else record.name)

    def partition_dir(self, record: RecordType | str, venue: str, canonical: str) -> Path:
        return (
            self.record_dir(record)
            / f"venue={_check_part(venue, 'venue')}"
            / f"symbol={_check_part(canonical, 'symbol')}"
        )

    def _ls(self, key: Path) -> list[str]:
        try:
            return sorted(str(p) for p in self.fs.ls(str(key), detail=False, refresh=True))
        except FileNotFoundError:
            return []

    def _partition_dirs(self, record: RecordType | str, venue: str | None) -> list[Path]:
        venues = (
            [self.record_dir(record) / f"venue={venue}"]
            if venue
            else [Path(p) for p in self._ls(self.record_dir(record)) if Path(p).name.startswith("venue=")]
        )
        out = []
        for v in venues:
            out += [Path(p) for p in self._ls(v) if Path(p).name.startswith("symbol=")]
        return out

    def manifest(self, part_dir: Path) -> Manifest:
        """The newest manifest of a partition folder (seq 0 and no files when it has none)."""
        names = [Path(p).name for p in self._ls(part_dir / MANIFESTS)]
        seqs = sorted(int(n.split(".", 1)[0]) for n in names if n.endswith(".json") and n[:1].isdigit())
        if not seqs:
            return Manifest(0, {})
        doc = json.loads(self.fs.cat_file(str(part_dir / MANIFESTS / _manifest_name(seqs[-1]))))
        return Manifest(int(doc["seq"]), dict(doc["files"]))

    def month_files(
        self, record: RecordType | str, venue: str | None = None, canonical: str | None = None
    ) -> list[Path]:
        """The part objects the newest manifests name, sorted by partition then month."""
        dirs = (
            [self.partition_dir(record, venue, canonical)]
            if venue and canonical
            else [
                d
                for d in self._partition_dirs(record, venue)
                if canonical is None or d.name == f"symbol={canonical}"
            ]
        )
        out: list[Path] = []
        for d in sorted(dirs):
            m = self.manifest(d)
            out += [d / m.files[k] for k in sorted(m.files)]
        return out

    def partition_months(
        self, record: RecordType | str, keep: Callable[[str, str], bool]
    ) -> list[tuple[str, str, list[str]]]:
        """``(venue, canonical, part URLs)`` of every partition of ``record`` that ``keep(venue,
        canonical)`` accepts and whose newest manifest names a month, sorted; the filter runs on the
        listing, so a narrow selection reads only its own manifests (``store info --coin BTC``)."""
        out = []
        for d in sorted(self._partition_dirs(record, None)):
            venue, canon = d.parent.name.split("=", 1)[1], d.name.split("=", 1)[1]
            if not keep(venue, canon):
                continue
            m = self.manifest(d)
            if m.files:
                out.append((venue, canon, [self.uri(d / m.files[k]) for k in sorted(m.files)]))
        return out

    def fingerprint(self) -> str:
        """A short text that changes with every commit: the newest manifest's name of every partition
        (names only: a LIST per partition's manifest folder, no GET). The API's cache key."""
        h = hashlib.blake2b(digest_size=8)
        for record in self.records_present():
            for d in sorted(self._partition_dirs(record, None)):
                names = self._ls(d / MANIFESTS)
                h.update(f"{d}:{Path(names[-1]).name if names else ''};".encode())
        return h.hexdigest()

    def open_input(self, url: str) -> Any:
        """A seekable binary file object of the object ``url`` (a Parquet footer is read from its end)."""
        return self.fs.open(url, "rb")

    def partitions(self, record: RecordType | str) -> list[tuple[str, str]]:
        """(venue, canonical) pairs with a committed manifest naming at least one month."""
        out = []
        for d in sorted(self._partition_dirs(record, None)):
            if self.manifest(d).files:
                out.append((d.parent.name.split("=", 1)[1], d.name.split("=", 1)[1]))
        return out

    def records_present(self) -> list[str]:
        present = {Path(p).name for p in self._ls(self.root)}
        return [name for name in RECORDS if name in present]

    # -- writing -----------------------------------------------------------------------------------
    def write(self, record: RecordType, frame: pl.DataFrame, *, source: str | None = None) -> WriteResult:
        """File ``frame`` into its partitions (see :meth:`perpscope.store.Lake.write`); each partition
        commits through one conditional manifest put."""
        with self.transaction() as tx:
            return tx.write(record, frame, source=source)

    def append(
        self, record: RecordType, frame: pl.DataFrame, *, source: str | None = None, fsync: bool = True
    ) -> WriteResult:
        """The object store's writes are already parts named by a manifest: :meth:`write`."""
        return self.write(record, frame, source=source)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[ObjectTransaction]:
        """Writes committed partition by partition as they are made (no lock exists to hold)."""
        yield ObjectTransaction(self)

    def recover(self, grace_ms: int = GRACE_MS) -> RecoveryReport:
        """Delete part objects no newest manifest names and older than ``grace_ms`` (crashed writers'
        uploads, parts superseded by later commits)."""
        n = size = 0
        now_ms = time.time() * 1000
        for record in self.records_present():
            for d in self._partition_dirs(record, None):
                named = set(self.manifest(d).files.values())
                for info in self._details(d):
                    name = Path(info["name"]).name
                    if not name.endswith(".parquet") or name in named:
                        continue
                    modified = info.get("LastModified")
                    if modified is not None and now_ms - modified.timestamp() * 1000 < grace_ms:
                        continue
                    self.fs.rm_file(info["name"])
                    n += 1
                    size += int(info.get("size") or 0)
        return RecoveryReport(temporaries_removed=n, bytes_removed=size)

    def _details(self, key: Path) -> list[dict[str, Any]]:
        try:
            return list(self.fs.ls(str(key), detail=True, refresh=True))
        except FileNotFoundError:
            return []

    def read_part(self, key: Path) -> pl.DataFrame:
        with self.fs.open(str(key), "rb") as fh:
            return pl.read_parquet(fh)

    def put_part(self, part_dir: Path, month: str, df: pl.DataFrame) -> str:
        """Upload ``df`` as a new, uniquely named part of ``month``; return its name (not yet visible)."""
        name = f"{month}.{uuid.uuid4().hex[:16]}.parquet"
        buf = io.BytesIO()
        write_parquet(df, buf)
        self.fs.pipe_file(str(part_dir / name), buf.getvalue())
        return name

    def put_manifest(self, part_dir: Path, manifest: Manifest) -> bool:
        """Create ``manifest`` if no writer created its sequence number first; True when it did."""
        try:
            self.fs.pipe_file(
                str(part_dir / MANIFESTS / _manifest_name(manifest.seq)),
                manifest.encode(self.writer_id),
                mode="create",
            )
        except FileExistsError:
            return False
        return True

    # -- derived datasets --------------------------------------------------------------------------
    def write_derived(self, dataset: str, venue: str, canonical: str, df: pl.DataFrame) -> str:
        """Store a derived dataset's rows for one partition (replacing them); one PUT, whole or absent."""
        key = self.partition_dir(_check_part(dataset, "dataset"), venue, canonical) / "data.parquet"
        buf = io.BytesIO()
        write_parquet(df, buf)
        self.fs.pipe_file(str(key), buf.getvalue())
        return self.uri(key)

    def read_derived(self, dataset: str) -> pl.DataFrame:
        """Every partition of a derived dataset, concatenated (empty frame when there is none)."""
        keys = sorted(p for p in self.fs.glob(f"{self.root / dataset}/venue=*/symbol=*/data.parquet"))
        frames = []
        for k in keys:
            with self.fs.open(k, "rb") as fh:
                frames.append(pl.read_parquet(fh))
        # perps differ in columns (one without OI has no oi_* columns): missing ones read as nulls
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


class ObjectTransaction(Transaction):
    """Writes to an :class:`ObjectLake`: each partition a frame touches commits on its own."""

    def __init__(self, lake: ObjectLake) -> None:
        super().__init__(lake)
        self.lake: ObjectLake = lake

    def commit(self) -> None:
        """Nothing left to commit: each partition committed within :meth:`write`."""

    def discard(self) -> None:
        """Nothing staged to discard: uploads no manifest names are invisible (and swept by recover)."""

    def write(
        self, record: RecordType, frame: pl.DataFrame, *, source: str | None = None, conformed: bool = False
    ) -> WriteResult:
        df = prepared(record, frame, source, conformed=conformed)
        if df.is_empty():
            return WriteResult(record.name, 0, 0)
        added = 0
        parts = df.partition_by(["venue", "canonical"], as_dict=True)
        for (venue, canonical), part in parts.items():
            added += self._commit_partition(record, str(venue), str(canonical), part)
        return WriteResult(record.name, df.height, added)

    def _commit_partition(self, record: RecordType, venue: str, canonical: str, df: pl.DataFrame) -> int:
        """Merge ``df`` into one partition and commit it; redone on top of a rival's commit."""
        lake = self.lake
        d = lake.partition_dir(record, venue, canonical)
        months = [(m, rows) for _, _, m, rows in _split_by_month(df, record.time_col)]
        for attempt in range(COMMIT_ATTEMPTS):
            current = lake.manifest(d)
            files = dict(current.files)
            uploaded: list[str] = []
            added = 0
            for month, rows in months:
                old = lake.read_part(d / files[month]) if month in files else None
                merged = merge_month(record, old, rows)
                if merged is None:
                    continue
                added += merged.height - (0 if old is None else old.height)
                files[month] = lake.put_part(d, month, merged)
                uploaded.append(files[month])
            if record.time_col not in record.key:
                added -= self._drop_keys_in_other_months(
                    record, d, df, files, {m for m, _ in months}, uploaded
                )
            if files == current.files:
                return 0  # nothing new: no commit
            if lake.put_manifest(d, Manifest(current.seq + 1, files)):
                return added
            lake.lost_commits += 1
            for name in uploaded:  # a rival committed first: our parts were merged on a stale state
                with contextlib.suppress(FileNotFoundError):
                    lake.fs.rm_file(str(d / name))
            time.sleep(random.uniform(0, 0.05 * min(attempt + 1, 10)))  # desynchronise the retries
        raise StoreError(f"{d}: gave up after {COMMIT_ATTEMPTS} commits lost to other writers")

    def _drop_keys_in_other_months(
        self,
        record: RecordType,
        d: Path,
        df: pl.DataFrame,
        files: dict[str, str],
        written: set[str],
        uploaded: list[str],
    ) -> int:
        """Remove from the partition's other months the rows whose (time-less) key ``df`` now holds."""
        key = list(record.key)
        removed = 0
        for month in sorted(set(files) - written):
            old = self.lake.read_part(d / files[month])
            kept = old.join(df.select(key), on=key, how="anti", nulls_equal=True)
            if kept.height == old.height:
                continue
            removed += old.height - kept.height
            if kept.is_empty():
                del files[month]
            else:
                files[month] = self.lake.put_part(d, month, kept)
                uploaded.append(files[month])
        return removed


def _manifest_name(seq: int) -> str:
    return f"{seq:012d}.json"
