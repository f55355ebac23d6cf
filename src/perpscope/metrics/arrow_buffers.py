"""Polars columns as the Arrow buffers they already are, for compiled loops that read them in place.

:func:`perpscope.regimes.classify.episodes` reads some thirty columns of a labels frame (420,000 rows
for 4 symbols × a year of 5-minute bars) at each episode's first bar. Converting them to numpy the usual
way (``to_numpy`` fills nulls into a fresh array, ``gather`` copies) cost more than reading them; the
buffers polars exports through Arrow are the columns' own memory: values, a validity bitmap, and for
text the 16-byte string views with their data buffers.

Every array handed out is read-only (zero-copy views are; the few copies are made so), so that a
compiled loop has one signature whatever the column's nulls (see ``episode_text._fixed``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa


def _ro(x: np.ndarray) -> np.ndarray:
    x.flags.writeable = False
    return x


def _array(s: pl.Series) -> pa.Array:
    """``s`` as one Arrow array (string columns as string views: polars' own layout, no copy)."""
    arr = s.to_arrow(compat_level=pl.CompatLevel.newest())
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _validity(arr: pa.Array) -> np.ndarray:
    """The validity bitmap of ``arr`` from its first row (bit ``i`` of byte ``i >> 3``: row ``i`` is not
    null); all set when it has no nulls."""
    n, bits = len(arr), arr.buffers()[0]
    if bits is None or arr.null_count == 0:
        return _ro(np.full((n + 7) // 8, 255, np.uint8))
    if arr.offset % 8 == 0:
        return _ro(np.frombuffer(bits, np.uint8, (n + 7) // 8, arr.offset // 8))
    # a slice starting inside a byte (rare: polars' own frames start at a byte): realigned
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    return _ro(np.packbits(valid, bitorder="little"))


def validity(s: pl.Series) -> np.ndarray:
    """The validity bitmap of ``s``: bit ``i & 7`` of byte ``i >> 3`` set where row ``i`` is not null."""
    return _validity(_array(s))


class Floats(NamedTuple):
    """A Float64 column: ``values`` (undefined where null) and ``valid`` (its validity bitmap)."""

    values: np.ndarray
    valid: np.ndarray


class Bools(NamedTuple):
    """A Boolean column: ``bits`` (bitmap of the values) and ``valid``."""

    bits: np.ndarray
    valid: np.ndarray


class Texts(NamedTuple):
    """A String column: ``views`` (16 bytes per row: the length, then up to 12 bytes inline, else the
    first 4, the data buffer's number and the offset in it), ``words`` (the same as two uint64 per row,
    shape ``(n, 2)``), ``data`` (the data buffers end to end),
    ``starts`` (where each buffer begins in ``data``) and ``valid``."""

    views: np.ndarray
    words: np.ndarray
    data: np.ndarray
    starts: np.ndarray
    valid: np.ndarray


def floats(s: pl.Series) -> Floats:
    """A numeric column as :class:`Floats` (cast to Float64 first when it is not)."""
    arr = _array(s if s.dtype == pl.Float64 else s.cast(pl.Float64))
    values = np.frombuffer(arr.buffers()[1], np.float64, len(arr), arr.offset * 8)
    return Floats(_ro(values), _validity(arr))


def bools(s: pl.Series) -> Bools:
    """A Boolean column as :class:`Bools`."""
    arr = _array(s)
    n = len(arr)
    if arr.offset % 8 == 0:
        bits = np.frombuffer(arr.buffers()[1], np.uint8, (n + 7) // 8, arr.offset // 8)
    else:
        bits = np.packbits(arr.fill_null(False).to_numpy(zero_copy_only=False), bitorder="little")
    return Bools(_ro(bits), _validity(arr))


def _views(arr: pa.Array) -> np.ndarray:
    """The 16-byte views of a ``string_view`` array, in place (uint8, 16 a row)."""
    return np.frombuffer(arr.buffers()[1], np.uint8, len(arr) * 16, arr.offset * 16)


def string_words(s: pl.Series) -> np.ndarray | None:
    """The string views of ``s`` (a String column) in place as two uint64 words a row, shape ``(n, 2)``
    (the length and 4 bytes, then 8 more: see :class:`Texts`); None when the column does not come out as
    Arrow string views (the caller then reads its values)."""
    arr = _array(s)
    if arr.type != pa.string_view() or arr.buffers()[1] is None:
        return None
    return _ro(_views(arr).view(np.uint64).reshape(-1, 2))


def texts(s: pl.Series) -> Texts:
    """A String column as :class:`Texts`: the views in place; the data buffers (usually one, small:
    polars writes a column of a few distinct words once) joined only when there are several."""
    arr = _array(s)
    if arr.type != pa.string_view():
        arr = arr.cast(pa.string_view())
    bufs = arr.buffers()
    views = _views(arr)
    data = [np.frombuffer(b, np.uint8) if b is not None else np.zeros(0, np.uint8) for b in bufs[2:]]
    starts = np.zeros(len(data) + 1, np.int64)
    starts[1:] = np.cumsum([d.shape[0] for d in data])
    joined = data[0] if len(data) == 1 else np.concatenate(data) if data else np.zeros(0, np.uint8)
    return Texts(_ro(views), views.view(np.uint64).reshape(-1, 2), _ro(joined), _ro(starts), _validity(arr))
