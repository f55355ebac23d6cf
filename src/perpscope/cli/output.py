"""What several commands print or write the same way: provenance footnotes, frames as json/csv/parquet,
the import report, hot-zone and fragility tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from perpscope.cli.common import console, err_console, fail
from perpscope.core.format import pct_text, pp_text, price_text, usd_text

if TYPE_CHECKING:
    from perpscope.assemble.panel import MarketPanel
    from perpscope.ingest.importer import ImportReport


def print_notes(lines: Sequence[str], *, to_stderr: bool = False) -> None:
    """Footnote lines (the first a heading, the others indented; warnings in yellow)."""
    if not lines:
        return
    out = err_console() if to_stderr else console()
    out.print(f"[dim]{escape(lines[0])}[/]", soft_wrap=False, highlight=False)
    for line in lines[1:]:
        warn = "[" in line and ("missing" in line or "gap" in line or "ends" in line)
        out.print(f"[{'yellow' if warn else 'dim'}]  · {escape(line)}[/]", highlight=False)


def print_provenance(mp: MarketPanel, *, to_stderr: bool = False) -> None:
    """The panel's footnotes: scope and bars, each measure's sources, cover and flags, then notes."""
    print_notes(mp.notes, to_stderr=to_stderr)


def write_frame(
    df: pl.DataFrame, fmt: str, out: Path | None, provenance: dict[str, object] | None = None
) -> None:
    """``df`` as json, csv or parquet, to ``out`` or standard output.

    json is ``{"provenance": {...}, "rows": [...]}`` when ``provenance`` is given, else the row list."""
    if fmt == "parquet":
        if out is None:
            raise fail("--format parquet needs --out FILE")
        df.write_parquet(out)
        err_console().print(f"Wrote {df.height:,} rows to [bold]{out}[/]")
        return
    df = _epoch_ms(df)
    if fmt == "csv":
        text = df.write_csv()
        out.write_text(text) if out else typer.echo(text, nl=False)
    else:
        rows = df.to_dicts()
        text = json.dumps({"provenance": provenance, "rows": rows} if provenance else rows, default=str)
        out.write_text(text) if out else typer.echo(text)
    if out:
        err_console().print(f"Wrote {df.height:,} rows to [bold]{out}[/]")


def _epoch_ms(df: pl.DataFrame) -> pl.DataFrame:
    """Instants as the integers their names promise (``ts_ms``: int ms UTC), and beside the bar's
    instant a readable ``time_utc`` (``2025-10-10T21:00:00Z``) for people reading the file."""
    out = df.with_columns(pl.col(pl.Datetime).dt.epoch("ms"))
    if isinstance(df.schema.get("ts_ms"), pl.Datetime) and "time_utc" not in df.columns:
        at = out.columns.index("ts_ms") + 1
        out = out.insert_column(
            at, df.get_column("ts_ms").dt.to_string("%Y-%m-%dT%H:%M:%SZ").alias("time_utc")
        )
    return out


def print_report(report: ImportReport, notes: bool = True) -> None:
    """Rows parsed and added per record, the parsers' notes, then each skipped or failed file."""
    parsed = report.rows_parsed()
    added = report.rows_added()
    t = Table("record", "rows read", "rows added", header_style="bold", title="import")
    for rec in sorted(set(parsed) | set(added)):
        t.add_row(rec, f"{parsed.get(rec, 0):,}", f"{added.get(rec, 0):,}")
    console().print(t)
    console().print(
        f"{len(report.imported)} file(s) imported, {len(report.skipped)} skipped, "
        f"{len(report.failed)} failed."
    )
    for n in sorted({n for f in report.imported for n in f.notes}) if notes else ():
        console().print(f"[dim]note:[/] {n}")
    for f in report.skipped:
        console().print(f"[yellow]skipped:[/] {f.skipped}")
    for f in report.failed:
        err_console().print(f"[bold red]failed:[/] {f.error}")


def zone_table(zones: pl.DataFrame) -> Table:
    """Hot zones: side, rank, price band, USD, distance from the close (and the ensemble's p10–p90)."""
    t = Table(header_style="bold")
    band = "usd_p10" in zones.columns
    for col in ("side", "#", "zone (price)", "USD", "distance", *(["p10–p90 USD"] if band else [])):
        t.add_column(col, justify="left" if col in ("side", "zone (price)") else "right")
    for r in zones.iter_rows(named=True):
        row = [
            r["side"],
            str(r["rank"]),
            f"{price_text(r['price_lo'])} – {price_text(r['price_hi'])}",
            usd_text(r["usd"]),
            pct_text(r["distance_pct"] / 100),
        ]
        if band:
            row.append(f"{usd_text(r['usd_p10'])} – {usd_text(r['usd_p90'])}")
        t.add_row(*row)
    return t


def fragility_table(f: pl.DataFrame, title: str = "fragility: cascade size by shock size") -> Table:
    """The fragility curve as rows: shock → liquidated USD (median, p10–p90), final move (median), and
    what the cascade adds beyond the shock (median and the 1-in-10 path, percentage points). Fits 80
    columns whole."""
    t = Table(
        title=title, header_style="bold", caption="median, p10–p90 and 1-in-10 path over Monte Carlo paths"
    )
    for col in ("shock", "liquidated", "p10–p90", "final", "added", "1 in 10", "×shock"):
        t.add_column(col, justify="right")

    def pp(x: float) -> str:
        return pp_text(round(x / 100.0, 6) + 0.0, 2)  # + 0.0: no "-0.00" for a cascade that adds nothing

    for r in f.iter_rows(named=True):
        t.add_row(
            f"{r['shock_pct']:+.1f}%",
            usd_text(r["liq_usd_p50"]),
            f"{usd_text(r['liq_usd_p10'])}–{usd_text(r['liq_usd_p90'])}",
            f"{r['final_move_pct_p50']:+.2f}%",
            pp(r["added_move_pct_p50"]),
            pp(r["added_move_pct_p90"]),
            f"{r['amplification_p50']:.2f}",
        )
    return t


@dataclass(frozen=True, slots=True)
class Column:
    """A frame column as a terminal table shows it: its header and how a value reads."""

    name: str
    header: str
    text: Callable[[Any], str]


#: Border and padding rich draws around each cell of a table (``│ x ``), and the closing border.
_CELL_CHROME, _TABLE_CHROME = 3, 1


def fitting_columns(
    columns: Sequence[Column], rows: Sequence[dict[str, Any]], width: int, reserved: int = 0
) -> tuple[list[Column], list[Column]]:
    """The columns (in the given order: most wanted first) that fit ``width`` terminal columns whole,
    and the ones left out. ``reserved``: width already taken by fixed columns (with their chrome).

    Numbers are never cut or folded: a column is shown at the width of its widest cell or not at all.
    """
    used = reserved + _TABLE_CHROME
    kept: list[Column] = []
    dropped: list[Column] = []
    for c in columns:
        need = max([len(c.header), *(len(c.text(r.get(c.name))) for r in rows)]) + _CELL_CHROME
        if used + need <= width:
            kept.append(c)
            used += need
        else:
            dropped.append(c)
    return kept, dropped


def fitted_table(
    title: str,
    first: tuple[str, Sequence[str]],
    columns: Sequence[Column],
    rows: Sequence[dict[str, Any]],
    width: int,
    more: str,
) -> Table:
    """A table of ``rows``: a fixed first column (header, cells), then as many of ``columns`` as fit
    ``width`` whole; a caption names the ones left out and ``more`` (how to see them)."""
    head, cells = first
    reserved = max([len(head), *(len(x) for x in cells)]) + _CELL_CHROME
    kept, dropped = fitting_columns(columns, rows, width, reserved)
    caption = (
        f"not shown at {width} columns: {', '.join(c.header for c in dropped)} ({more})" if dropped else None
    )
    t = Table(title=title, caption=caption, header_style="bold")
    t.add_column(head, no_wrap=True)
    for c in kept:
        t.add_column(c.header, justify="right", no_wrap=True)
    for cell, r in zip(cells, rows, strict=True):
        t.add_row(cell, *[c.text(r.get(c.name)) for c in kept])
    return t
