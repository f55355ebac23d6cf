"""Join Parquet files written alike into one file, row groups as they are, nothing encoded again.

A month file of two million trades is eight row groups of :data:`~perpscope.store.lake.ROW_GROUP_ROWS`
rows. pyarrow encodes a file on one core, and has no way to add already encoded row groups to a file
it writes; but a row group's column chunks hold no position of their own (their pages are
self-contained), only the file's footer says where each chunk starts. So each row group can be encoded
as a Parquet file of its own, on whichever core is free, and the files joined: their bodies one after
the other between one ``PAR1`` and one footer — the first file's footer, listing every file's row
groups with their offsets moved by where their body now starts, numbered in order, and the rows
summed. That is byte for byte the file one writer makes from the same row groups with the same options
(checked by ``tests/store/test_parquet_stitch.py``).

The footer is Thrift's compact protocol (``parquet.thrift`` in apache/parquet-format); this module
reads it into plain values and writes them back exactly as Thrift's own writer does, changing only the
fields that hold a file position. Files whose footers differ in anything but their row groups and row
count (another schema, writer or encoding order), that carry page indexes or bloom filters (written
after the last row group, not in a body), or name another file for a column, are not joined
(:func:`stitch` returns None): the caller writes the rows whole.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"PAR1"

# compact protocol type codes
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)

# field ids (parquet.thrift): FileMetaData
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
# RowGroup
_RG_COLUMNS, _RG_FILE_OFFSET, _RG_ORDINAL = 1, 5, 7
# ColumnChunk
_CC_FILE_PATH, _CC_FILE_OFFSET, _CC_META = 1, 2, 3
_CC_PAGE_INDEX = (4, 5, 6, 7)  # offset and column index offsets/lengths: after the row groups
_CC_ENCRYPTED = (8, 9)
# ColumnMetaData: data, index and dictionary page offsets (positions in the file)
_CM_OFFSETS = (9, 10, 11)
_CM_BLOOM = (14, 15)  # bloom filter offset and length: after the row groups


@dataclass
class Field:
    """One field of a Thrift struct: its id, compact type code and value (a :class:`Struct` for a
    struct, a :class:`List` for a list or set, bytes for binary, int, float or bool)."""

    fid: int
    ctype: int
    value: object


@dataclass
class List:
    """A list (or set) value: its element type code and its elements."""

    etype: int
    items: list[object]
    ctype: int = _LIST


Struct = list[Field]


class ThriftError(ValueError):
    """Footer bytes that are not compact-protocol Thrift this reader knows."""


class _Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data).cast("B")  # unsigned bytes, whatever the buffer's format
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ThriftError("footer ends early")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        out = shift = 0
        while True:
            b = self.byte()
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7
            if shift > 70:
                raise ThriftError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ThriftError("footer ends early")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def value(self, ctype: int) -> object:
        if ctype in (_TRUE, _FALSE):  # a bool inside a list: one byte
            return self.byte() == _TRUE
        if ctype == _BYTE:
            b = self.byte()
            return b - 256 if b > 127 else b
        if ctype in (_I16, _I32, _I64):
            return self.zigzag()
        if ctype == _DOUBLE:
            return struct.unpack("<d", self.take(8))[0]
        if ctype == _BINARY:
            return self.take(self.varint())
        if ctype in (_LIST, _SET):
            head = self.byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            return List(etype, [self.value(etype) for _ in range(size)], ctype)
        if ctype == _STRUCT:
            return self.struct()
        raise ThriftError(f"unsupported compact type {ctype}")  # maps: parquet's footer has none

    def struct(self) -> Struct:
        fields: Struct = []
        last = 0
        while True:
            head = self.byte()
            if head == _STOP:
                return fields
            ctype, delta = head & 0x0F, head >> 4
            fid = last + delta if delta else self.zigzag()
            value: object = ctype == _TRUE if ctype in (_TRUE, _FALSE) else self.value(ctype)
            fields.append(Field(fid, ctype, value))
            last = fid


def _varint(n: int, out: bytearray) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zigzag(n: int, out: bytearray) -> None:
    _varint((n << 1) ^ (n >> 63), out)


def _write_value(ctype: int, value: object, out: bytearray) -> None:
    if ctype in (_TRUE, _FALSE):
        out.append(_TRUE if value else _FALSE)
    elif ctype == _BYTE:
        out.append(int(value) & 0xFF)  # type: ignore[call-overload]
    elif ctype in (_I16, _I32, _I64):
        _zigzag(int(value), out)  # type: ignore[call-overload]
    elif ctype == _DOUBLE:
        out += struct.pack("<d", value)
    elif ctype == _BINARY:
        data = bytes(value)  # type: ignore[call-overload]
        _varint(len(data), out)
        out += data
    elif isinstance(value, List):
        n = len(value.items)
        if n < 15:
            out.append((n << 4) | value.etype)
        else:
            out.append(0xF0 | value.etype)
            _varint(n, out)
        for item in value.items:
            _write_value(value.etype, item, out)
    elif ctype == _STRUCT:
        _write_struct(value, out)  # type: ignore[arg-type]
    else:
        raise ThriftError(f"unsupported compact type {ctype}")


def _write_struct(fields: Struct, out: bytearray) -> None:
    last = 0
    for f in fields:
        ctype = (_TRUE if f.value else _FALSE) if f.ctype in (_TRUE, _FALSE) else f.ctype
        delta = f.fid - last
        if 0 < delta <= 15:
            out.append((delta << 4) | ctype)
        else:
            out.append(ctype)
            _zigzag(f.fid, out)
        if ctype not in (_TRUE, _FALSE):
            _write_value(ctype, f.value, out)
        last = f.fid
    out.append(_STOP)


def decode(data: bytes | memoryview) -> Struct:
    """A compact-protocol struct (a Parquet footer) as fields."""
    reader = _Reader(data)
    out = reader.struct()
    if reader.pos != len(reader.data):
        raise ThriftError("bytes after the footer's end")
    return out


def encode(fields: Struct) -> bytes:
    """The compact-protocol bytes of ``fields``, as Thrift's writer makes them."""
    out = bytearray()
    _write_struct(fields, out)
    return bytes(out)


def _get(fields: Struct, fid: int) -> Field | None:
    return next((f for f in fields if f.fid == fid), None)


@dataclass
class Split:
    """A Parquet file taken apart for :func:`stitch`: its body (between the leading magic and the
    footer), its decoded footer, and the encoded footer fields that every joined file must share (all
    but the row count and the row groups)."""

    body: memoryview
    footer: Struct
    shared: bytes


def split(data: bytes | memoryview) -> Split | None:
    """``data`` (a whole Parquet file) taken apart, or None when it is not a plain Parquet file whose
    footer this module reads. Done by whoever wrote the file (an encoder thread), so that joining the
    files at the end is only moving offsets."""
    view = memoryview(data).cast("B")
    if len(view) < 12 or view[:4] != MAGIC or view[-4:] != MAGIC:
        return None
    (footer_len,) = struct.unpack("<I", view[-8:-4])
    footer_start = len(view) - 8 - footer_len
    if footer_start < 4:
        return None
    try:
        footer = decode(view[footer_start:-8])
    except ThriftError:
        return None
    shared = encode([f for f in footer if f.fid not in (_FILE_NUM_ROWS, _FILE_ROW_GROUPS)])
    return Split(view[4:footer_start], footer, shared)


def _moved(group: Struct, shift: int, ordinal: int) -> Struct | None:
    """A row group's fields with every file position moved by ``shift`` and its ordinal set; None when
    it has something that does not sit in its body (page index, bloom filter, another file)."""
    out: Struct = []
    for f in group:
        if f.fid == _RG_FILE_OFFSET:
            out.append(Field(f.fid, f.ctype, int(f.value) + shift))  # type: ignore[call-overload]
        elif f.fid == _RG_ORDINAL:
            out.append(Field(f.fid, f.ctype, ordinal))
        elif f.fid == _RG_COLUMNS and isinstance(f.value, List):
            chunks: list[object] = []
            for chunk in f.value.items:
                moved = _moved_chunk(chunk, shift)  # type: ignore[arg-type]
                if moved is None:
                    return None
                chunks.append(moved)
            out.append(Field(f.fid, f.ctype, List(f.value.etype, chunks, f.value.ctype)))
        else:
            out.append(f)
    return out


def _moved_chunk(chunk: Struct, shift: int) -> Struct | None:
    out: Struct = []
    for f in chunk:
        if f.fid in (_CC_FILE_PATH, *_CC_PAGE_INDEX, *_CC_ENCRYPTED):
            return None
        if f.fid == _CC_FILE_OFFSET and f.value:  # deprecated: pyarrow writes 0, which stays 0
            out.append(Field(f.fid, f.ctype, int(f.value) + shift))  # type: ignore[call-overload]
        elif f.fid == _CC_META:
            meta: Struct = []
            for m in f.value:  # type: ignore[attr-defined]
                if m.fid in _CM_BLOOM:
                    return None
                meta.append(Field(m.fid, m.ctype, m.value + shift) if m.fid in _CM_OFFSETS else m)
            out.append(Field(f.fid, f.ctype, meta))
        else:
            out.append(f)
    return out


def stitch(files: list[bytes | memoryview | Split]) -> list[bytes | memoryview] | None:
    """The pieces of one Parquet file holding the row groups of ``files`` (whole files, or files taken
    apart by :func:`split`) in order — write them one after the other — or None when the files were not
    written alike (see the module's docstring)."""
    parts = [f if isinstance(f, Split) else split(f) for f in files]
    if not parts or any(p is None for p in parts):
        return None
    first = parts[0]
    assert first is not None
    groups: list[object] = []
    rows = 0
    position = 0  # where the body being added starts, after the leading magic
    etype = _STRUCT
    for part in parts:
        assert part is not None
        if part.shared != first.shared:
            return None
        num_rows, row_groups = _get(part.footer, _FILE_NUM_ROWS), _get(part.footer, _FILE_ROW_GROUPS)
        if num_rows is None or row_groups is None or not isinstance(row_groups.value, List):
            return None
        etype = row_groups.value.etype
        for group in row_groups.value.items:
            moved = _moved(group, position, len(groups))  # type: ignore[arg-type]
            if moved is None:
                return None
            groups.append(moved)
        rows += int(num_rows.value)  # type: ignore[call-overload]
        position += len(part.body)
    footer = []
    for f in first.footer:
        if f.fid == _FILE_NUM_ROWS:
            footer.append(Field(f.fid, f.ctype, rows))
        elif f.fid == _FILE_ROW_GROUPS:
            footer.append(Field(f.fid, f.ctype, List(etype, groups)))
        else:
            footer.append(f)
    tail = encode(footer)
    return [MAGIC, *(p.body for p in parts if p is not None), tail, struct.pack("<I", len(tail)), MAGIC]
