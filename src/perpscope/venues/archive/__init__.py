"""Binance public bulk-data archive (``data.binance.vision``): parsers and a downloader.

Parsers are pure (a file in, conformed record frames out) — one per dataset, listed in
:data:`FORMATS` for the importer's sniffing; :func:`parse_file` parses one file with the dataset taken
from its path or given. The downloader (:mod:`perpscope.venues.archive.download`) fetches date ranges
with checksum verification.
"""

from perpscope.venues.archive.formats import FORMATS, ArchiveFormat, format_for, parse_file
from perpscope.venues.archive.layout import DATASETS, KLINE_DATASETS, archive_path, inspect_path
from perpscope.venues.archive.metrics import METRICS_CREATE_TIME, CreateTimeConvention

__all__ = [
    "DATASETS",
    "FORMATS",
    "KLINE_DATASETS",
    "METRICS_CREATE_TIME",
    "ArchiveFormat",
    "CreateTimeConvention",
    "archive_path",
    "format_for",
    "inspect_path",
    "parse_file",
]
