"""Where a row came from, and which source wins when two describe the same fact.

Every market record carries ``source``: ``<kind>:<name>``, for example ``archive:binance_klines``
(Binance's public data archive), ``rest:binance`` (a REST backfill), ``stream:bybit`` (live capture),
``export:coinglass_btc_liquidations_agg:<file>`` (a third-party export: its import format and file) or
``user`` (a frame written from Python without a source). The source is part of each row's identity in
the store (two sources of one bar are both kept, so import order cannot matter), and readers combine
them column by column by :data:`SOURCE_PRECEDENCE`: for every column, the value of the highest-ranked
source that has one; among equal ranks the source whose name sorts last wins (of two exports named by
their dates, the later), so the result never depends on which file was imported last. Exports carry
their file's name (``export:<format>:<file stem>``): two files of one format can be different series.
The table is documented in ``docs/sources.md``.
"""

from __future__ import annotations

import polars as pl

#: Rank of each source kind: the exchange's own archive beats its REST and streams (the archive is
#: written after the fact from the matching engine's records, REST and streams can drop or revise), and
#: both beat a third-party export (a copy, sometimes resampled or back-filled). ``user`` and unknown
#: kinds rank last.
SOURCE_PRECEDENCE: dict[str, int] = {"archive": 3, "rest": 2, "stream": 2, "export": 1, "user": 0}

#: ``source`` of rows written without one (Python callers of ``Lake.write``; stores older than the column).
DEFAULT_SOURCE = "user"


def source_kind(source: str) -> str:
    """``export:coinglass_x`` → ``export``; a source without a colon is its own kind."""
    return source.split(":", 1)[0]


def source_rank(source: str) -> int:
    """Precedence rank of a source (higher wins), from :data:`SOURCE_PRECEDENCE`."""
    return SOURCE_PRECEDENCE.get(source_kind(source), 0)


def source_rank_expr(col: str = "source") -> pl.Expr:
    """:func:`source_rank` as a polars expression over a column of sources (Int8)."""
    kind = pl.col(col).str.split_exact(":", 1).struct.field("field_0")
    return kind.replace_strict(SOURCE_PRECEDENCE, default=0, return_dtype=pl.Int8)
