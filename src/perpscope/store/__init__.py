"""The store: a Parquet lake with idempotent atomic writes, read through polars and DuckDB.

The per-coin summary is :func:`perpscope.store.summary.summary` (not re-exported: the name would hide
its module).
"""

from perpscope.store.coverage import coverage, coverage_of, find_gaps
from perpscope.store.lake import Lake, WriteResult
from perpscope.store.reader import duckdb_connection, read, resolve_symbols
from perpscope.store.selection import Selection

__all__ = [
    "Lake",
    "Selection",
    "WriteResult",
    "coverage",
    "coverage_of",
    "duckdb_connection",
    "find_gaps",
    "read",
    "resolve_symbols",
]
