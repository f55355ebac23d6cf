"""The store: a Parquet lake with idempotent atomic writes, read through polars and DuckDB.

The package exports the handle (:class:`Lake`; :func:`open_lake` opens a folder or an ``s3://`` URL,
whose :class:`~perpscope.store.object_lake.ObjectLake` is a ``Lake``; and :class:`Selection`, a filter
over its partition folders) and nothing that reads: the readers are imported from their modules
(:mod:`perpscope.store.reader`: ``read``, ``resolve_symbols``, ``duckdb_connection``;
:mod:`perpscope.store.coverage`: ``coverage``, ``coverage_of``; :mod:`perpscope.store.summary`:
``summary``). Front ends (CLI commands, API, report, alerts, dashboard) hold a ``Lake`` and reach its
data only through :mod:`perpscope.assemble`; an import-linter contract forbids them the reader modules,
and since ``from perpscope.store import read`` does not exist there is no way around the contract
through this package.
"""

from perpscope.store.lake import Lake, WriteResult
from perpscope.store.location import open_lake
from perpscope.store.selection import Selection

__all__ = ["Lake", "Selection", "WriteResult", "open_lake"]
