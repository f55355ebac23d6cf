"""Read a zip member's bytes with ISA-L's inflate (``isal``) instead of CPython's ``zipfile``.

Binance publishes every archive file as a deflated zip, and unzipping was the largest single step of an
import: ``zipfile`` reads a member through zlib at ~150–300 MB/s on this machine, ISA-L at ~500–700 MB/s
(measured on the 300 MB of the import benchmark's zips). The member is read as a stream of bounded
chunks (never more than ``size`` bytes out per call, however well the input compresses), so the
caller's line-length bound still refuses a hostile file after reading a bounded part of it. The CRC-32
and size the zip records are checked at the end, as ``zipfile`` does.

Members stored another way than deflate (stored, bzip2, lzma) or encrypted are read by ``zipfile``.
"""

from __future__ import annotations

import struct
import zipfile
from typing import IO, Protocol

from isal import isal_zlib

#: Compressed bytes read from the file at a time.
RAW_CHUNK = 1 << 20
#: Members the zip declares at most this large are inflated in one call into one buffer
#: (:func:`read_whole`): no chunks to join, which cost a copy of the whole file (~4% of a klines
#: import). Larger ones are read in chunks, so a hostile line is refused after a bounded read.
WHOLE_MEMBER_BYTES = 64 << 20
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the name and extra-field lengths
_LOCAL_SIGNATURE = b"PK\x03\x04"

#: What inflating a damaged member raises (besides :class:`zipfile.BadZipFile`).
InflateError: type[Exception] = isal_zlib.error  # type: ignore[assignment]  # isal types it as an instance


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def open_member(zf: zipfile.ZipFile, name: str) -> Readable:
    """A reader of member ``name`` of ``zf``: ISA-L for deflated members, else ``zipfile``'s own."""
    info = zf.getinfo(name)
    if info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & 0x1 or zf.fp is None:
        return zf.open(info)
    return _Inflating(zf.fp, info)


def read_whole(zf: zipfile.ZipFile, name: str) -> bytes | None:
    """Member ``name`` inflated in one call, or None when it is not a plain deflated member or the zip
    declares it larger than :data:`WHOLE_MEMBER_BYTES` (then read it with :func:`open_member`).

    Never more than the declared size plus one byte is inflated, however the data compresses; the
    size and CRC-32 are checked as the chunked reader checks them.
    """
    info = zf.getinfo(name)
    if (
        info.compress_type != zipfile.ZIP_DEFLATED
        or info.flag_bits & 0x1
        or zf.fp is None
        or info.file_size > WHOLE_MEMBER_BYTES
    ):
        return None
    return _Inflating(zf.fp, info).read_whole()


class _Inflating:
    """The decompressed bytes of one deflated member, ``read`` in bounded chunks."""

    def __init__(self, fp: IO[bytes], info: zipfile.ZipInfo) -> None:
        fp.seek(info.header_offset)
        head = fp.read(_LOCAL_HEADER.size)
        if len(head) < _LOCAL_HEADER.size:
            raise zipfile.BadZipFile(f"{info.filename}: truncated local header")
        signature, name_len, extra_len = _LOCAL_HEADER.unpack(head)
        if signature != _LOCAL_SIGNATURE:
            raise zipfile.BadZipFile(f"{info.filename}: bad local header signature")
        fp.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
        self._fp = fp
        self._info = info
        self._left = info.compress_size  # compressed bytes not yet read
        self._inflate = isal_zlib.decompressobj(-15)  # raw deflate, as zip stores it
        self._crc = 0
        self._size = 0
        self._done = False

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` decompressed bytes (all that is left when ``size`` < 0); ``b""`` at the end."""
        if size == 0:
            return b""
        if size < 0:
            parts = []
            while chunk := self.read(1 << 24):
                parts.append(chunk)
            return b"".join(parts)
        while not self._done:
            tail = self._inflate.unconsumed_tail
            if tail:
                out = self._inflate.decompress(tail, size)
            elif self._left > 0:
                raw = self._fp.read(min(RAW_CHUNK, self._left))
                if not raw:
                    raise zipfile.BadZipFile(f"{self._info.filename}: truncated data")
                self._left -= len(raw)
                out = self._inflate.decompress(raw, size)
            else:
                out = self._inflate.flush()
                self._done = True
            if out:
                self._crc = isal_zlib.crc32(out, self._crc)
                self._size += len(out)
            if self._done:
                self._check_end()
            if out:
                return out
        return b""

    def read_whole(self) -> bytes:
        """Every decompressed byte, inflated in one call (at most the declared size + 1 byte)."""
        raw = self._fp.read(self._left)
        if len(raw) < self._left:
            raise zipfile.BadZipFile(f"{self._info.filename}: truncated data")
        self._left = 0
        out = self._inflate.decompress(raw, self._info.file_size + 1)
        if self._inflate.unconsumed_tail or len(out) > self._info.file_size:
            raise zipfile.BadZipFile(
                f"{self._info.filename}: more than the {self._info.file_size} bytes the zip says"
            )
        rest = self._inflate.flush()
        if rest:
            out += rest
        self._crc = isal_zlib.crc32(out)
        self._size = len(out)
        self._done = True
        self._check_end()
        return out

    def _check_end(self) -> None:
        if not self._inflate.eof:
            raise zipfile.BadZipFile(f"{self._info.filename}: compressed data ends early")
        if self._size != self._info.file_size:
            raise zipfile.BadZipFile(
                f"{self._info.filename}: {self._size} bytes, the zip says {self._info.file_size}"
            )
        if self._crc != self._info.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {self._info.filename!r}")

    def close(self) -> None:
        """Nothing to release (the zip file owns the file handle); here for ``with`` and ``zipfile`` alike."""

    def __enter__(self) -> _Inflating:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
