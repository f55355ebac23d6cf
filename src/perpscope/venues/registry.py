"""Every importable file format, found by name or by sniffing a file's path and first line."""

from __future__ import annotations

from pathlib import Path

from perpscope.venues.base import FileFormat, first_line


def all_formats() -> list[FileFormat]:
    """Built-in formats: Binance public archive first, then the CSV exports."""
    from perpscope.venues.archive import FORMATS as ARCHIVE
    from perpscope.venues.csv import FORMATS as CSV

    return [*ARCHIVE, *CSV]


def format_named(name: str, formats: list[FileFormat] | None = None) -> FileFormat:
    """The format called ``name``; ``KeyError`` listing the known names otherwise."""
    fmts = formats if formats is not None else all_formats()
    for f in fmts:
        if f.name == name:
            return f
    raise KeyError(f"unknown format {name!r}; known: {', '.join(f.name for f in fmts)}")


def sniff(path: Path, formats: list[FileFormat] | None = None) -> FileFormat | None:
    """The first format that recognizes ``path``, or None."""
    fmts = formats if formats is not None else all_formats()
    line = first_line(path)
    for f in fmts:
        if f.sniff(path, line):
            return f
    return None
