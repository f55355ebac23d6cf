"""The store: a Parquet lake with idempotent atomic writes, read through polars and DuckDB."""

from perpscope.store.coverage import coverage, find_gaps
from perpscope.store.lake import Lake, WriteResult
from perpscope.store.reader import duckdb_connection, read, resolve_symbols

__all__ = ["Lake", "WriteResult", "coverage", "duckdb_connection", "find_gaps", "read", "resolve_symbols"]
