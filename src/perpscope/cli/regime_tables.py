"""The regime tables several commands print (``perpscope regimes``, the demo): the reading now, the
timeline of non-neutral episodes, treadmill cycles and circuit breakers, laid out for 80 columns, of one
:class:`~perpscope.assemble.regime_reading.RegimeReading` (warm-up and flows read there)."""

from __future__ import annotations

import polars as pl
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from perpscope.assemble.regime_reading import RegimeReading
from perpscope.core.time import ms_to_iso


def _t(x: object) -> str:
    return "–" if x is None else ms_to_iso(int(x.timestamp() * 1000))[:16].replace("T", " ")  # type: ignore[attr-defined]


def regime_tables(rr: RegimeReading, last: int = 15) -> list[RenderableType]:
    """The reading, the latest ``last`` non-neutral episodes, treadmill cycles and circuit breakers as
    tables: episodes and cycles from the range's start on, the reading and the breakers of the whole
    panel (its warm-up included), with the flow evidence when ``rr`` read flows."""
    r = rr.now()
    now = Table(title="Current reading (latest bar)", header_style="bold", show_header=False)
    now.add_column("", style="bold", no_wrap=True)
    now.add_column("")
    for row in r.iter_rows(named=True):
        now.add_row("series", f"{row['venue']}:{row['canonical']} at {_t(row['ts_ms'])} UTC")
        bars = f"{row['bars']} bar{'s' if row['bars'] != 1 else ''}"
        now.add_row("regime", f"{row['regime']} (since {_t(row['since_ms'])}, {bars})")
        now.add_row("evidence", row["evidence"])
        ratio = row["spot_perp_ratio_w"]
        flow = (
            f"leader {row['leader'] or 'n/a'}, spot/perp volume {'n/a' if ratio is None else f'{ratio:.2f}'}"
        )
        if row["structural_imbalance"]:
            flow += " — structural imbalance: derivatives signals less reliable"
        now.add_row("flow", flow)
        if "flow_evidence" in row:
            now.add_row("flows", escape(row["flow_evidence"]))
        now.add_row("treadmill", f"{row['treadmill_cycles']} cycle(s) in the latest chain")
        now.add_row("breakers", row["breakers_engaged"] or "none engaged")
    ep = rr.episodes().filter(pl.col("regime") != "neutral").tail(last)
    out: list[RenderableType] = [now]
    # two columns (when | regime and its evidence) rather than five: the evidence keeps most of the
    # width, so a sentence reads on a few lines at 80 columns instead of one word per line
    if ep.height:
        tl = Table(title=f"Regime timeline (latest {ep.height} non-neutral episodes)", header_style="bold")
        tl.add_column("when (UTC)", no_wrap=True)
        tl.add_column("regime · evidence of its first bar")
        for e in ep.iter_rows(named=True):
            start, end = _t(e["start_ms"]), _t(e["end_ms"])
            to = end[11:] if end[:10] == start[:10] else end[5:]
            bars = f"{e['bars']} bar{'s' if e['bars'] != 1 else ''}"
            tl.add_row(
                f"{start}\n[dim]→ {to} · {bars}[/]", f"[bold]{e['regime']}[/]\n{escape(e['evidence'] or '')}"
            )
        out.append(tl)
    else:
        out.append(Text("No non-neutral regime episode in the panel.", style="dim"))
    tm = rr.treadmill()
    if tm.height:
        tt = Table(title="Liquidation treadmill cycles", header_style="bold")
        tt.add_column("cycle", no_wrap=True)
        tt.add_column("evidence")
        for cy in tm.iter_rows(named=True):
            nxt = cy["next_flush_start_ms"]
            when = f"chain {cy['chain']} · {cy['cycle']} of {cy['cycles']}"
            flushes = f"flush {_t(cy['flush_start_ms'])}" + (f"\nnext  {_t(nxt)}" if nxt is not None else "")
            tt.add_row(
                f"{when}\n[dim]{flushes}[/]",
                escape(cy["evidence"] or ""),
            )
        out.append(tt)
    else:
        out.append(
            Text(
                "No liquidation treadmill cycle in the panel (a cycle: a deleveraging flush, leverage "
                "rebuilt, the next flush; docs/regimes.md).",
                style="dim",
            )
        )
    cb = rr.breakers()
    bt = Table(title="Circuit breakers of the treadmill", header_style="bold")
    for c in ("check", "engaged", "evidence"):
        bt.add_column(c, no_wrap=c != "evidence")
    for b in cb.iter_rows(named=True):
        on = b["engaged"]
        bt.add_row(b["check"], "n/a" if on is None else ("[green]yes[/]" if on else "no"), b["evidence"])
    out.append(bt)
    return out
