"""perpscope: read the leverage behind crypto prices.

Funding, open interest, liquidations, volumes and positioning from real venues, stored locally as
Parquet and read through DuckDB/polars. See ``shared/DESIGN.md`` for the architecture.
"""

__version__ = "0.1.0"
