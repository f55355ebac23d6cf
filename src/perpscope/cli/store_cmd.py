"""``perpscope store``: what the store holds, and ``store compact`` to fold live part files.

``store info`` prints one line per coin and venue (from Parquet footers: fast on any store size; on an
``s3://`` lake the footers of the parts the newest manifests name, read with ranged GETs and cached
on this machine by part name, parts being immutable),
the most complete coins first and the first :data:`TOP_COINS` only unless asked; ``--details`` and
``--json`` list every series of the selection with its gaps (these read the rows' time columns).
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from perpscope.cli.common import console, fail, lake, reading_lake, settings
from perpscope.core.time import ms_to_datetime, ms_to_iso

if TYPE_CHECKING:
    import polars as pl

    from perpscope.store import Lake
    from perpscope.store.selection import Selection

app = typer.Typer(help="Inspect the local store.", no_args_is_help=True)

#: Coins listed by default (most complete first); ``--all`` lists every one.
TOP_COINS = 20
#: Venues listed per coin by default (most complete first); ``--all`` or ``--coin`` lists every one.
TOP_VENUES = 8
#: Narrowest records column worth putting beside the figures; narrower terminals get it below them.
MIN_RECORDS_WIDTH = 40


@app.command("info")
def info(
    ctx: typer.Context,
    coin: Annotated[
        list[str] | None, typer.Option("--coin", "-c", help="Only this coin (base: BTC), repeatable.")
    ] = None,
    symbol: Annotated[
        list[str] | None,
        typer.Option(
            "--symbol", "-s", help="Only this symbol: canonical (BTC-USDT-PERP) or a venue's (BTCUSDT)."
        ),
    ] = None,
    venue: Annotated[list[str] | None, typer.Option("--venue", "-v", help="Only this venue.")] = None,
    record: Annotated[
        list[str] | None, typer.Option("--record", "-r", help="Only this record, e.g. candles or funding.")
    ] = None,
    details: Annotated[
        bool, typer.Option("--details", "-d", help="One line per series, with its gaps (reads the rows).")
    ] = False,
    show_all: Annotated[bool, typer.Option("--all", help=f"Every coin, not the top {TOP_COINS}.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the per-series coverage as JSON lines, one object a line.")
    ] = False,
) -> None:
    """What the store holds: per coin and venue by default; per series with --details or --json."""
    # imported here: `store info --help` (and every `store` command's start) need no polars or pyarrow
    from perpscope.assemble.records import coverage_of, summary
    from perpscope.store.selection import Selection

    lk = reading_lake(ctx)
    sel = Selection.of(coin, venue, record, symbol)
    _check_records(sel)
    if as_json:
        for row in coverage_of(lk, sel).iter_rows(named=True):
            typer.echo(json.dumps(row))
        return
    if details:
        cov = coverage_of(lk, sel)
        if cov.is_empty():
            raise _nothing(lk, sel)
        _print_details(lk, cov)
        return
    summ = summary(lk, sel)
    if summ.is_empty():
        raise _nothing(lk, sel)
    _print_summary(lk, summ, sel, show_all)


@app.command("compact")
def compact(
    ctx: typer.Context,
    record: Annotated[
        list[str] | None, typer.Option("--record", "-r", help="Only this record, e.g. trades.")
    ] = None,
) -> None:
    """Seal the live logs of stopped collectors into part files, then fold the part files into their
    month files (a collector also does both on its own; reads are the same before and after)."""
    if settings(ctx).url:
        raise fail("store compact works on a local folder: an s3:// lake commits whole month objects already")
    from perpscope.records import RECORDS

    lk = lake(ctx)
    if record:
        unknown = [r for r in record if r not in RECORDS]
        if unknown:
            raise fail(f"unknown record {', '.join(unknown)}; known: {', '.join(RECORDS)}")
    from perpscope.store.live_log import seal_orphans

    sealed = seal_orphans(lk, record or None)
    if sealed.segments or sealed.live:
        console().print(
            f"sealed {sealed.rows:,} rows of {sealed.segments:,} live log segment"
            f"{'s' if sealed.segments != 1 else ''} of stopped collectors into part files"
            + (f"; {sealed.live:,} segment(s) of running collectors left to them" if sealed.live else "")
        )
    done = lk.compact(record or None)
    console().print(
        f"folded {done.parts:,} part file{'s' if done.parts != 1 else ''} into {done.months:,} month "
        f"file{'s' if done.months != 1 else ''} in {lk.root}"
    )


def _check_records(sel: Selection) -> None:
    from perpscope.records import RECORDS

    unknown = sorted(r for r in sel.records if r not in RECORDS)
    if unknown:
        raise fail(f"unknown record {', '.join(unknown)}; records are: {', '.join(RECORDS)}")


def _nothing(lk: Lake, sel: Selection) -> typer.Exit:
    """Exit 0 on an empty store (saying how to fill it), else an error naming what the store holds."""
    from perpscope.store.selection import Selection, selected_partitions

    parts = selected_partitions(lk, Selection())
    if not parts:
        console().print(
            f"The store at [bold]{lk.uri(lk.root)}[/] is empty. "
            "Try [bold]perpscope import PATH[/] or [bold]perpscope demo[/]."
        )
        return typer.Exit(0)
    hints = []
    for wanted, held in (
        (sel.coins, {p.coin for p in parts}),
        (sel.venues, {p.venue for p in parts}),
        (sel.records, {p.record for p in parts}),
    ):
        for w in sorted(wanted - held):
            close = difflib.get_close_matches(w, sorted(held), n=3)
            hints.append(f"no {w!r} in the store" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    detail = "; ".join(hints) or "nothing in the store matches these filters together"
    return fail(f"{detail}. `perpscope store info --all` lists what the store holds.")


def _date(ms: int) -> str:
    return ms_to_datetime(ms).strftime("%Y-%m-%d")


def _print_summary(lk: Lake, summ: pl.DataFrame, sel: Selection, show_all: bool) -> None:
    import polars as pl

    out = console()
    coins = summ.get_column("coin").unique(maintain_order=True).to_list()
    cap = not (show_all or sel.coins or sel.symbols)
    shown = coins[:TOP_COINS] if cap else coins
    view = summ.filter(pl.col("coin").is_in(shown))
    if cap:
        view = view.filter(pl.int_range(pl.len()).over("coin") < TOP_VENUES)
    records = summ.get_column("records").explode().drop_nulls().unique()
    head = (
        f"{len(coins):,} coin(s) · {summ.get_column('venue').n_unique():,} venue(s) · "
        f"{records.len()} record(s) · {int(summ.get_column('rows').sum()):,} rows"
    )
    out.print(Text(f"perpscope store — {lk.uri(lk.root)}", style="bold"), overflow="fold")
    out.print(Text(head))
    out.print()
    more_venues = summ.group_by("coin").len().filter(pl.col("len") > TOP_VENUES) if cap else None
    hidden = dict(more_venues.iter_rows()) if more_venues is not None else {}
    for line in summary_lines(view, out.width, hidden):
        out.print(line, soft_wrap=True)
    if len(shown) < len(coins):
        out.print()
        out.print(
            Text(f"… {_count(len(coins) - len(shown), 'coin')}: `perpscope store info --all` or `--coin X`"),
            soft_wrap=True,
        )
    out.print(
        Text(
            "gaps: yes = some series has a hole (estimated from row counts); `--details` lists the "
            "series and their gaps.",
            style="dim",
        )
    )


def summary_lines(view: pl.DataFrame, width: int, hidden: dict[str, int] | None = None) -> list[Text]:
    """The summary as lines of at most ``width`` characters where the figures allow.

    Figures (coin, venue, from, to, rows, gaps) come first in fixed columns; the records held follow
    in a column of their own when at least :data:`MIN_RECORDS_WIDTH` characters remain, else on the
    lines below, under the venue. Records wrap between names, never inside dates or numbers.
    ``hidden`` maps a coin to its number of venues when ``view`` shows only some of them.
    """
    rows = list(view.iter_rows(named=True))
    wc = max([4, *(len(r["coin"]) for r in rows)])
    wv = max([5, *(len(r["venue"]) for r in rows)])
    wn = max([4, *(len(f"{r['rows']:,}") for r in rows)])
    fixed = wc + 2 + wv + 2 + 10 + 2 + 10 + 2 + wn + 2 + 4
    beside = width - fixed - 2 >= MIN_RECORDS_WIDTH
    indent = fixed + 2 if beside else wc + 4
    rec_width = max(20, width - indent)
    header = f"{'coin':<{wc}}  {'venue':<{wv}}  {'from':<10}  {'to':<10}  {'rows':>{wn}}  gaps"
    lines = [Text(header + ("  records" if beside else ""), style="bold")]
    shown = Counter(r["coin"] for r in rows)
    for i, r in enumerate(rows):
        first_of_coin = i == 0 or rows[i - 1]["coin"] != r["coin"]
        if first_of_coin and i:
            lines.append(Text(""))
        gaps = "–" if not r["checked_series"] else ("yes" if r["gap_series"] else "no")
        line = Text(f"{r['coin'] if first_of_coin else '':<{wc}}", style="bold")
        line.append(
            f"  {r['venue']:<{wv}}  {_date(r['first_ms'])}  {_date(r['last_ms'])}  {r['rows']:>{wn},}  "
        )
        line.append(gaps, style="yellow" if gaps == "yes" else "")
        held = _wrap(r["holdings"], rec_width)
        if beside:
            line.append(" " * (4 - len(gaps)) + f"  {held.pop(0)}")
        lines.append(line)
        lines.extend(Text(" " * indent + h, style="cyan") for h in held)
        last_of_coin = i + 1 == len(rows) or rows[i + 1]["coin"] != r["coin"]
        more = (hidden or {}).get(r["coin"], 0) - shown[r["coin"]]
        if last_of_coin and more > 0:
            lines.append(Text(f"{'':<{wc}}  … {_count(more, 'venue')}: `--coin {r['coin']}`", style="dim"))
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n:,} more {noun}" + ("" if n == 1 else "s")


def _wrap(items: list[str], width: int) -> list[str]:
    """``items`` joined by ", " into lines of at most ``width`` (an item is never split)."""
    lines: list[str] = []
    cur = ""
    for it in items:
        if cur and len(cur) + 2 + len(it) + 1 > width:
            lines.append(cur + ",")
            cur = it
        else:
            cur = f"{cur}, {it}" if cur else it
    return [*lines, cur] if cur else lines or [""]


def _print_details(lk: Lake, cov: pl.DataFrame) -> None:
    import polars as pl

    from perpscope.store.selection import coin_of

    out = console()
    out.print(Text(f"perpscope store — {lk.uri(lk.root)}", style="bold"), overflow="fold")
    out.print()
    for line in details_lines(cov, out.width):
        out.print(line, soft_wrap=True)
    coins = cov.get_column("canonical").map_elements(coin_of, return_dtype=pl.String).n_unique()
    out.print()
    out.print(Text(f"{cov.height:,} series of {coins:,} coin(s); times UTC", style="dim"))


def details_lines(cov: pl.DataFrame, width: int) -> list[Text]:
    """Per-series lines under a ``symbol · venue · record`` heading per partition.

    Columns: series, rows, first → last instant, gaps; the first gap and the ``source`` values (when
    files carry that column) follow on the same line when it has room, else on the next, indented.
    """
    rows = list(cov.iter_rows(named=True))
    ws = max([6, *(len(r["series"]) for r in rows)])
    wr = max([4, *(len(f"{r['rows']:,}") for r in rows)])
    header = f"  {'series':<{ws}}  {'rows':>{wr}}  {'from':<16} → {'to':<16}  {'gaps':>4}"
    indent = " " * (2 + ws + 2 + wr + 2)
    lines = [Text(header + "  first gap", style="bold")]
    part = None
    for r in rows:
        if (r["canonical"], r["venue"], r["record"]) != part:
            part = (r["canonical"], r["venue"], r["record"])
            lines.append(Text(" · ".join(part), style="bold cyan"))
        gaps = str(r["gaps"]) if r["interval_ms"] else "–"
        span = f"{ms_to_iso(r['first_ms'])} → {ms_to_iso(r['last_ms'])}"
        line = Text(f"  {r['series']:<{ws}}  {r['rows']:>{wr},}  {span}  ")
        line.append(f"{gaps:>4}", style="yellow" if r["gaps"] else "")
        extra = []
        if r["gap_list"]:
            a, b = r["gap_list"][0]
            extra.append(f"first gap {ms_to_iso(a)} → {ms_to_iso(b)}")
        if r["sources"]:
            extra.append("sources " + ", ".join(r["sources"]))
        for e in extra:
            if len(line) + 2 + len(e) <= width:
                line.append(f"  {e}", style="dim")
            else:
                lines.append(line)
                line = Text(indent + e, style="dim")
        lines.append(line)
    return lines
