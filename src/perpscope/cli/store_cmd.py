"""``perpscope store``: what the store holds."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from perpscope.assemble.records import coverage
from perpscope.cli.common import console, lake
from perpscope.core.time import ms_to_iso

app = typer.Typer(help="Inspect the local store.", no_args_is_help=True)


@app.command("info")
def info(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the coverage as JSON lines.")] = False,
) -> None:
    """Coverage: per record, venue, symbol and series — rows, first and last time, gaps."""
    lk = lake(ctx)
    cov = coverage(lk)
    if as_json:
        for row in cov.iter_rows(named=True):
            console().print_json(data=row)
        return
    if cov.is_empty():
        console().print(
            f"The store at [bold]{lk.root}[/] is empty. "
            "Try [bold]perpscope import PATH[/] or [bold]perpscope demo[/]."
        )
        return
    t = Table(title=f"perpscope store — {lk.root}", header_style="bold")
    for col, just in (
        ("record", "left"),
        ("venue", "left"),
        ("symbol", "left"),
        ("series", "left"),
        ("rows", "right"),
        ("from (UTC)", "left"),
        ("to (UTC)", "left"),
        ("gaps", "right"),
        ("first gap (UTC)", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in cov.iter_rows(named=True):
        first_gap = ""
        if r["gap_list"]:
            a, b = r["gap_list"][0]
            first_gap = f"{ms_to_iso(a)} → {ms_to_iso(b)}"
        t.add_row(
            r["record"],
            r["venue"],
            r["canonical"],
            r["series"],
            f"{r['rows']:,}",
            ms_to_iso(r["first_ms"]),
            ms_to_iso(r["last_ms"]),
            str(r["gaps"]) if r["interval_ms"] else "–",
            first_gap,
        )
    console().print(t)
