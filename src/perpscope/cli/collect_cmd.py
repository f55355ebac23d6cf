"""``perpscope backfill``, ``perpscope collect`` and ``perpscope collect-status``: venue REST history into
the store, live capture as a long-running process, and that process's status.

The lead registers these functions on the app (``app.command("backfill")(backfill)`` ...).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from perpscope.cli.common import console, err_console, fail, lake, side_dir
from perpscope.core.time import SystemClock, ms_to_iso, parse_time_ms
from perpscope.ingest.backfill import BackfillProgress, plan
from perpscope.ingest.backfill import backfill as run_backfill
from perpscope.ingest.live import Collector, LiveConfig, LiveLimits, status_path
from perpscope.ingest.live_limits import WRITER_GIVE_UP_S
from perpscope.ingest.stall import STALL_INTERVALS, StallLimits
from perpscope.ingest.state import read_json
from perpscope.venues.registry import ExchangeVenue, LiveOptions, exchange_venues

DEFAULT_LIVE = "liquidations,funding,open_interest"


def _symbols(text: str) -> list[str]:
    out = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not out:
        raise ValueError("name at least one symbol (BTCUSDT,ETHUSDT)")
    return out


def _venue(name: str, known: dict[str, ExchangeVenue] | None = None) -> ExchangeVenue:
    venues = known if known is not None else exchange_venues()
    v = name.strip().lower()
    if v not in venues:
        raise ValueError(f"venue {name!r} is not available here yet; available: {', '.join(venues)}")
    return venues[v]


def _feeds(
    venues: list[ExchangeVenue], syms: list[str], wanted: list[str], opts: LiveOptions, bybit_ws: str | None
) -> list[Any]:
    """The live feeds of each venue with the wanted streams it offers; error when a venue offers none."""
    feeds: list[Any] = []
    for v in venues:
        mine = [s for s in wanted if s in v.capabilities.live]
        if not mine:
            raise ValueError(f"{v.name} offers none of {wanted}; it has: {', '.join(v.capabilities.live)}")
        o = opts
        if v.name == "bybit":  # a test's --ws-url serves Binance frames; Bybit has its own override
            o = LiveOptions(opts.rest_url, bybit_ws, opts.kline_period, opts.oi_poll_s)
        feeds += v.live_feeds(syms, mine, o)
    return feeds


def backfill(
    ctx: typer.Context,
    venue: Annotated[
        str, typer.Option("--venue", "-v", help="Venue (binance, bybit, okx, hyperliquid).")
    ] = "binance",
    symbols: Annotated[
        str, typer.Option("--symbols", "-s", help="Venue symbols, comma-separated.")
    ] = "BTCUSDT",
    since: Annotated[
        str, typer.Option("--since", help="Start (2025-10-01, a UTC datetime or epoch ms).")
    ] = "",
    until: Annotated[str | None, typer.Option("--until", help="End, exclusive. Default: now.")] = None,
    streams: Annotated[
        str | None,
        typer.Option(
            "--streams",
            # the lists are spaced after each comma so the help wraps them instead of cutting them
            help="History streams, comma-separated, each optionally with a period (klines:1h). Binance: "
            "klines:1h, funding, open_interest:5m, ratio_global, ratio_top_accounts, ratio_top_positions, "
            "taker_volume, mark_klines:1m, index_klines, premium_klines, spot_klines. Bybit: klines:1h, "
            "funding, open_interest:5m. OKX: klines, mark_klines, index_klines, spot_klines, funding, "
            "open_interest:5m, ratio_global, ratio_top_accounts, ratio_top_positions, taker_volume. "
            "Hyperliquid: klines:1h, funding. Default: funding, open interest and the ratios and taker "
            "volume where the venue has them.",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=16, help="Jobs at once.")] = 4,
    rest_url: Annotated[str | None, typer.Option("--rest-url", hidden=True)] = None,
) -> None:
    """Page a venue's REST history into the store, within its rate limit; resumes where it stopped.

    Asking for more history than the venue serves takes what exists and says where older data is
    (Binance: the public archive, ``perpscope download``).
    """
    state, store = side_dir(ctx), lake(ctx)  # resume state on this machine; the rows into the store
    clock = SystemClock()
    try:
        v = _venue(venue)
        syms = _symbols(symbols)
        if not since:
            raise ValueError("--since is required (e.g. 2025-10-01)")
        now = clock.now_ms()
        jobs, notes = plan(
            v.capabilities,
            [s for s in (streams or v.default_history).split(",") if s.strip()],
            syms,
            parse_time_ms(since),
            parse_time_ms(until) if until else now,
            now,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    for n in notes:
        err_console().print(f"[yellow]note:[/] {n}")
    if not jobs:
        console().print("nothing to fetch")
        return

    cols = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[rows]:,} rows")]
    with Progress(*cols, TimeElapsedColumn(), console=err_console()) as prog:
        tasks: dict[str, TaskID] = {j.label: prog.add_task(j.label, total=1000, rows=0) for j in jobs}

        def on_progress(p: BackfillProgress) -> None:
            prog.update(tasks[p.job.label], completed=1000 * p.done_ms / p.total_ms, rows=p.rows_added)

        async def go():  # type: ignore[no-untyped-def]
            client: Any = v.history_client(rest_url)
            try:
                return await run_backfill(
                    client, store, state, jobs, progress=on_progress, concurrency=concurrency
                )
            finally:
                await client.aclose()

        report = asyncio.run(go())
    t = Table(title=f"backfill {v.name}")
    for c in ("stream", "symbol", "pages", "rows fetched", "rows added", "outcome"):
        t.add_column(c)
    for r in report.results:
        outcome = f"[red]{r.error}" if r.error else "; ".join(r.notes) or "ok"
        t.add_row(
            r.job.stream + (f":{r.job.period}" if r.job.period else ""),
            r.job.symbol,
            str(r.pages),
            f"{r.rows_fetched:,}",
            f"{r.rows_added:,}",
            outcome,
        )
    console().print(t)
    if not report.ok:
        raise typer.Exit(1)


def collect(
    ctx: typer.Context,
    venues: Annotated[
        str,
        typer.Option("--venues", "-v", help="Venues, comma-separated (binance, bybit, okx, hyperliquid)."),
    ] = "binance",
    symbols: Annotated[str, typer.Option("--symbols", "-s", help="Symbols, comma-separated.")] = "BTCUSDT",
    streams: Annotated[
        str,
        typer.Option(
            "--streams",
            help="liquidations, trades, funding, klines, open_interest; each venue takes those it offers.",
        ),
    ] = DEFAULT_LIVE,
    flush_seconds: Annotated[
        float, typer.Option("--flush-seconds", min=0.05, help="Longest a row waits before it is written.")
    ] = 1.0,
    max_batch: Annotated[
        int, typer.Option("--max-batch", min=1, help="Rows that trigger an early write.")
    ] = 50_000,
    oi_poll_seconds: Annotated[
        float, typer.Option("--oi-poll-seconds", min=1.0, help="Polling period of values with no stream.")
    ] = 60.0,
    kline_period: Annotated[str, typer.Option("--kline-period")] = "1m",
    writer_give_up_seconds: Annotated[
        float,
        typer.Option(
            "--writer-give-up-seconds",
            min=0.0,
            help="Store writes failing this long stop the collector with exit code 1 (failed writes are "
            "retried at every flush until then).",
        ),
    ] = WRITER_GIVE_UP_S,
    stall_intervals: Annotated[
        float,
        typer.Option(
            "--stall-intervals",
            min=1.0,
            help="A socket is reconnected when a stream it carries is silent for this many of its normal "
            "intervals (trades 5 s, liquidations 60 s, mark price 3 s, ...).",
        ),
    ] = STALL_INTERVALS,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live status table.")] = False,
    rest_url: Annotated[str | None, typer.Option("--rest-url", hidden=True)] = None,
    ws_url: Annotated[str | None, typer.Option("--ws-url", hidden=True)] = None,
    bybit_ws_url: Annotated[str | None, typer.Option("--bybit-ws-url", hidden=True)] = None,
) -> None:
    """Capture live streams into the store until Ctrl-C / SIGTERM (then flush and exit cleanly).

    Each venue gets the wanted streams it offers. Liquidation feeds differ: Bybit publishes every
    liquidation (for the named symbols); Binance and OKX at most one per symbol per second (every
    symbol); Hyperliquid has no public liquidation stream (funding and open interest are polled).

    A ``kill -9`` loses at most the rows of the last ``--flush-seconds`` (plus a write in progress);
    the store itself is never left half-written (on an ``s3://`` lake each flush commits its partitions
    through the lake's manifests; the status file stays on this machine). A failed store write is
    retried at every flush and shown by ``collect-status``; writes failing for
    ``--writer-give-up-seconds``, or rows left unwritten on stop, end the process with exit code 1.
    """
    state = side_dir(ctx)  # the status file: the data folder, or for an s3:// lake this machine's folder
    store = lake(ctx)
    try:
        known = exchange_venues()
        names = sorted({_venue(v, known).name for v in venues.split(",") if v.strip()})
        syms = _symbols(symbols)
        wanted = [s.strip() for s in streams.split(",") if s.strip()]
        opts = LiveOptions(rest_url, ws_url, kline_period, oi_poll_seconds)
        feeds = _feeds([known[n] for n in names], syms, wanted, opts, bybit_ws_url)
    except ValueError as exc:
        raise fail(str(exc)) from None
    cfg = LiveConfig(flush_seconds=flush_seconds, max_batch=max_batch)
    limits = LiveLimits(stall=StallLimits(intervals=stall_intervals), writer_give_up_s=writer_give_up_seconds)

    async def go() -> Collector:
        col = Collector(feeds, store, state, cfg, limits=limits)
        col.install_signal_handlers()
        if quiet:
            await col.run()
            return col
        from rich.live import Live

        task = asyncio.create_task(col.run())
        with Live(_status_table(col.snapshot()), console=err_console(), refresh_per_second=2) as live:
            while not task.done():
                await asyncio.sleep(1.0)
                live.update(_status_table(col.snapshot()))
        await task
        return col

    col = asyncio.run(go())
    snap = col.snapshot()
    console().print(f"stopped; rows written: {snap['written']}")
    fatal = [v["fatal"] for v in snap["venues"] if v["fatal"]]
    if col.failure:
        fatal.append(f"store writer: {col.failure}")
    if fatal:
        raise fail(escape("; ".join(fatal)), code=1)


def status(ctx: typer.Context) -> None:
    """Show the status a running (or the last) collector wrote to ``<data dir>/_state/status.json`` (for
    an ``s3://`` lake, to this machine's folder for it: a collector's health is its machine's)."""
    path = status_path(side_dir(ctx))
    snap = read_json(path)
    if not isinstance(snap, dict):
        raise fail(f"no collector status at {path}: start one with `perpscope collect`", code=1)
    age = time.time() - snap.get("updated_ms", 0) / 1000
    state = "stopped" if snap.get("stopped") else ("running" if age < 30 else f"not updated for {age:.0f} s")
    console().print(f"collector pid {snap.get('pid')}: {state}; pending rows {snap.get('pending_rows', 0):,}")
    for line in _health_lines(snap):
        console().print(line)
    console().print(_status_table(snap))


def _health_lines(snap: dict[str, Any]) -> list[str]:
    """What went wrong, in words: the writer's failure or failing writes, a restart's downtime, stalls."""
    out = []
    w = snap.get("writer") or {}
    if snap.get("failure"):
        out.append(f"[bold red]store writer failed:[/] {escape(snap['failure'])}")
    elif w.get("failing_since_ms"):
        out.append(
            f"[red]store writes failing[/] since {ms_to_iso(w['failing_since_ms'], seconds=True)} "
            f"({w['consecutive_failures']} attempts, retried every flush): {escape(str(w.get('last_error')))}"
        )
    elif snap.get("flush_errors"):
        out.append(
            f"store writes failed {snap['flush_errors']} times and recovered; "
            f"last error: {escape(str(w.get('last_error')))}"
        )
    rejected = snap.get("rejected") or {}
    if rejected:
        counts = ", ".join(f"{k} {n:,}" for k, n in rejected.items())
        out.append(
            f"[yellow]rows refused by the checks[/] (not stored): {counts}; last: "
            f"{escape(str(snap.get('last_rejection')))}"
        )
    r = snap.get("restart")
    if r:
        how = "stopped" if r["previous_stopped_cleanly"] else "was killed or crashed"
        out.append(
            f"restarted: the previous collector {how}, last alive "
            f"{ms_to_iso(r['previous_last_alive_ms'], seconds=True)} "
            f"({r['down_ms'] / 1000:,.0f} s before this start)"
        )
    for v in snap.get("venues", []):
        if v.get("stalls"):
            out.append(f"{v['venue']}: {v['stalls']} stalled socket(s) reconnected")
    return out


def _status_table(snap: dict[str, Any]) -> Table:
    t = Table(title="live streams")
    for c in (
        "venue",
        "stream",
        "msgs",
        "msg/s",
        "last event",
        "lag ms",
        "reconnects",
        "gaps filled",
        "gaps unfilled",
        "rows written",
    ):
        t.add_column(c, justify="right" if c not in ("venue", "stream") else "left")
    for s in snap.get("streams", []):
        t.add_row(
            s["venue"],
            s["stream"],
            f"{s['messages']:,}",
            f"{s['msgs_per_s']:.1f}",
            ms_to_iso(s["last_event_ms"], seconds=True) if s.get("last_event_ms") else "-",
            str(s.get("lag_ms") if s.get("lag_ms") is not None else "-"),
            str(s["reconnects"]),
            str(s["gaps_filled"]),
            str(len(s["gaps_unfilled"])),
            f"{s['rows_written']:,}",
        )
    for v in snap.get("venues", []):
        if v.get("fatal") or v.get("last_error"):
            t.caption = escape(f"{v['venue']}: {v.get('fatal') or v.get('last_error')}")
    return t
