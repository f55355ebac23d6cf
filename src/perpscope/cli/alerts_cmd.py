"""``perpscope alerts``: watch the store with alert rules (``run``), check once (``check``), fire a
sample through every configured target (``test``).

Admitted alerts and the deliveries they owe live in a state file (SQLite; ``state`` in the config, else
``<config>.state.sqlite`` beside it): a restart neither repeats nor loses an alert, and deliveries that
failed are retried with backoff between checks (:mod:`perpscope.alerts.delivery`).

The store is read only, through :func:`perpscope.assemble.panel.latest_panel`: a rule's ``venue`` is a
venue scope (``binance``, ``binance,bybit,okx``, ``all``) and it reads the numbers ``perpscope metrics``
reads for that scope at the newest stored bar length; each check prints (standard error) what it read
and from which stored series. A collector (``perpscope collect``) writing to the same data directory is
what makes the metrics live.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.markup import escape

from perpscope.alerts import (
    Alert,
    AlertsConfig,
    Outbox,
    OutboxBusy,
    Outcome,
    Rule,
    Targets,
    drain,
    evaluate,
    load_config,
    message,
    send,
)
from perpscope.assemble import StoreInputError
from perpscope.assemble.heatmap import heatmap_of
from perpscope.assemble.panel import MarketPanel, latest_panel
from perpscope.assemble.regime_reading import REGIME_WARM_MS, read_regimes
from perpscope.cli.common import err_console, fail, reading_lake
from perpscope.cli.output import print_notes
from perpscope.core.errors import InputError
from perpscope.core.format import pct_text, usd_text
from perpscope.core.time import DAY_MS, SystemClock, interval_label, ms_to_iso, parse_time_ms
from perpscope.store import Lake

app = typer.Typer(help="Alerts over live metrics: rules in a TOML file, console and webhook delivery.")

#: Bars of history a rule sees per check (the panel's own 30-day look-backs are read before them); at least
#: the regime engine's warm-up, so ``regime_change`` reads the newest bar as ``perpscope regimes`` does.
HISTORY_MS = max(35 * DAY_MS, REGIME_WARM_MS + 2 * DAY_MS)

#: Panel columns each rule kind reads (any of them): a rule whose columns are all empty never fires,
#: and the check says so.
NEEDS: dict[str, tuple[str, ...]] = {
    "funding_extreme": ("funding_z", "funding_apr", "funding_sampled_8h"),
    "funding_cross": ("funding_rate", "funding_sampled_8h"),
    "oi_drop": ("oi_base", "oi_usd"),  # coins, else derived from USD and the close
    "liq_burst": ("liq_usd",),
}

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Alerts config (TOML, see docs/alerts.md).")]


def _config(path: Path) -> AlertsConfig:
    try:
        return load_config(path)
    except InputError as e:
        raise fail(str(e)) from None


def watched_panels(
    lk: Lake, rules: tuple[Rule, ...], end_ms: int | None = None
) -> dict[tuple[str, str], MarketPanel | None]:
    """Per (venue scope, symbol) the rules watch: :func:`perpscope.assemble.panel.latest_panel` (the
    same numbers ``perpscope metrics`` reads), or None with a warning saying why the store cannot give
    it."""
    out: dict[tuple[str, str], MarketPanel | None] = {}
    for r in rules:
        key = (r.venue, r.symbol)
        if key in out:
            continue
        try:
            out[key] = latest_panel(lk, r.venue, r.symbol, end_ms, HISTORY_MS)
        except StoreInputError as e:
            err_console().print(f"[yellow]warning:[/] rule {r.name!r}: {e}")
            out[key] = None
    return out


def _newest(mp: MarketPanel) -> pl.DataFrame:
    return mp.panel.filter(pl.col("close").is_not_null())


def check_rules(
    lk: Lake,
    rules: tuple[Rule, ...],
    end_ms: int | None = None,
    panels: dict[tuple[str, str], MarketPanel | None] | None = None,
) -> list[Alert]:
    """Every alert the rules raise on the newest bar of their symbols (before cooldown/de-duplication).

    ``panels``: :func:`watched_panels` (read here when not given)."""
    panels = panels if panels is not None else watched_panels(lk, rules, end_ms)
    out: list[Alert] = []
    for r in rules:
        mp = panels.get((r.venue, r.symbol))
        if mp is None:
            continue
        p = _newest(mp)
        if p.is_empty():
            continue
        # the labels every front end reads (assemble.regime_reading): the 35 days of HISTORY_MS cover the
        # engine's warm-up, so the newest bar is labelled from real history
        regimes = read_regimes(lk, mp, r.venue, flows=False).labels if r.kind == "regime_change" else None
        zones = None
        if r.kind == "hot_zone":
            end = int(p.get_column("ts_ms").dt.epoch("ms").max()) + mp.view.every_ms  # type: ignore[arg-type]
            try:
                hm = heatmap_of(
                    lk,
                    r.venue,
                    r.symbol,
                    None,
                    end,
                    zones=int(r.param("zones")),
                    width=float(r.param("width")),
                )
            except StoreInputError as e:
                err_console().print(f"[yellow]warning:[/] rule {r.name!r}: no heatmap: {e}")
                continue
            zones = hm.zones
        out += evaluate(r, p, regimes=regimes, zones=zones)
    return out


def reading_line(mp: MarketPanel) -> str:
    """What the rules read on the newest bar: its time and length, close, funding and open interest."""
    p = _newest(mp)
    if p.is_empty():
        return f"{mp.view.canonical} · {mp.view.scope.label}: no bar with a price"
    r = p.row(-1, named=True)
    t = ms_to_iso(int(p.get_column("ts_ms").dt.epoch("ms")[-1]))[:16]
    if r.get("funding_rate") is not None:
        fund = f"{pct_text(r['funding_rate'], 4)}/{interval_label(int(r.get('funding_interval_ms') or 0))}"
    elif r.get("funding_sampled_8h") is not None:
        across = " across venues" if mp.view.scope.single is None else ""
        fund = f"{pct_text(r['funding_sampled_8h'], 4)}/8h (sampled{across})"
    else:
        fund = "–"
    return (
        f"{mp.view.canonical} · {mp.view.scope.label}: newest {interval_label(mp.view.every_ms)} bar {t} "
        f"UTC: close {r['close']:,.6g}, funding {fund}, OI {usd_text(r.get('oi_usd'))}"
    )


def print_sources(
    rules: tuple[Rule, ...], panels: dict[tuple[str, str], MarketPanel | None], shown: dict[str, str]
) -> None:
    """On standard error, per watched series whose sources changed since the last call (``shown``
    remembers them): what the rules read, the panel's provenance footnotes, and each rule whose inputs
    are empty (it cannot fire)."""
    for (venue, symbol), mp in panels.items():
        if mp is None:
            continue
        key = f"{venue}|{symbol}"
        text = "\n".join(mp.notes)
        if shown.get(key) != text:
            shown[key] = text
            err_console().print(f"[bold]alerts read[/] {reading_line(mp)}", highlight=False)
            print_notes(mp.notes, to_stderr=True)
        p = _newest(mp)
        for r in rules:
            cols = NEEDS.get(r.kind, ())
            if (r.venue, r.symbol) != (venue, symbol) or not cols:
                continue
            if not any(c in p.columns and p.get_column(c).is_not_null().any() for c in cols):
                warn = f"{key}|{r.name}|empty"
                if warn not in shown:
                    shown[warn] = ""
                    err_console().print(
                        f"[yellow]warning:[/] rule {r.name!r} ({r.kind}) cannot fire: the panel of "
                        f"{mp.view.canonical} · {mp.view.scope.label} has no {' / '.join(cols)} "
                        "(see the sources above)"
                    )


def state_path(config: Path, cfg: AlertsConfig, state: Path | None = None) -> Path:
    """The state file (outbox and de-duplication): ``--state``, else the config's ``state``, else
    ``<config>.state.sqlite`` beside the config."""
    return state or cfg.state or config.with_name(f"{config.stem}.state.sqlite")


def _report(o: Outcome) -> None:
    if o.state == "sent":
        if o.attempts > 1:  # a recovered delivery is news; a first-time one is the normal case
            err_console().print(escape(o.line()), highlight=False)
        return
    colour = "yellow" if o.state == "retry" else "red"
    err_console().print(f"[{colour}]delivery:[/] {escape(o.line())}", highlight=False)


def _owed(ob: Outbox, targets: Targets, path: Path, *, end: bool) -> None:
    """Say what the outbox still owes: to configured targets (retried by the next run) and to targets
    no longer in the config (kept, in case the config comes back)."""
    owed = ob.pending()
    here = sum(n for t, n in owed.items() if t in targets.by_id)
    gone = sum(n for t, n in owed.items() if t not in targets.by_id)
    if here and end:
        err_console().print(
            f"[yellow]{here} deliveries still owed[/] (in {escape(str(path))}): the next "
            "`perpscope alerts run` or `check` with this config retries them",
            highlight=False,
        )
    if here and not end:
        err_console().print(
            f"{here} deliveries owed from an earlier run: sending them first", highlight=False
        )
    if gone and not end:
        err_console().print(
            f"[yellow]warning:[/] {gone} deliveries are owed to webhooks no longer in the config; they "
            f"stay in {escape(str(path))}",
            highlight=False,
        )


StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state", help="State file: admitted alerts and owed deliveries. Default: <config>.state.sqlite."
    ),
]
AtOpt = Annotated[
    str | None,
    typer.Option("--at", help="Check on the bars closed by this instant (UTC). Default: the newest."),
]
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        min=0,
        help="Seconds a single check keeps retrying failed deliveries before it exits (the rest stay "
        "owed in the state file).",
    ),
]


def run(
    ctx: typer.Context,
    config: ConfigOpt,
    once: Annotated[bool, typer.Option("--once", help="Check once and exit.")] = False,
    max_checks: Annotated[int | None, typer.Option(help="Stop after this many checks.")] = None,
    at: AtOpt = None,
    state: StateOpt = None,
    wait: WaitOpt = 60.0,
) -> None:
    """Check the rules every poll_seconds; send new alerts (cooldown and de-duplication per rule, kept in
    the state file across restarts), retrying failed deliveries between checks."""
    cfg = _config(config)
    if not cfg.rules:
        raise fail(f"{config}: no [[rule]] entries; see docs/alerts.md for an example")
    try:
        end_ms = parse_time_ms(at) if at else None
    except ValueError as e:
        raise fail(str(e)) from e
    lk, n, path = reading_lake(ctx), 0, state_path(config, cfg, state)
    shown: dict[str, str] = {}
    targets = Targets(cfg.webhooks)
    cool = {r.name: r.cooldown_ms for r in cfg.rules}
    try:
        outbox = Outbox(path)
    except OutboxBusy as e:
        raise fail(str(e)) from None
    with outbox as ob:
        _owed(ob, targets, path, end=False)
        while True:
            started = time.monotonic()
            panels = watched_panels(lk, cfg.rules, end_ms)
            print_sources(cfg.rules, panels, shown)
            alerts = check_rules(lk, cfg.rules, end_ms, panels)
            fresh = list(ob.admit(((a, cool[a.rule]) for a in alerts), targets.bodies(), time.time()))
            for a in fresh:
                typer.echo(message(a))
            say_quiet(cfg.rules, alerts, fresh)
            n += 1
            if once or (max_checks is not None and n >= max_checks):
                drain(ob, targets, cfg.delivery, wait, report=_report)
                _owed(ob, targets, path, end=True)
                return
            # until the next check: deliver what is owed as it falls due (all targets at once)
            drain(ob, targets, cfg.delivery, cfg.poll_seconds - (time.monotonic() - started), _report)
            time.sleep(max(0.0, cfg.poll_seconds - (time.monotonic() - started)))


def say_quiet(rules: tuple[Rule, ...], fired: list[Alert], fresh: list[Alert]) -> None:
    """On standard error, when a check sends nothing: that no rule fired (naming the rules checked), or
    that what fired was already sent (its cooldown has not passed). Silence would read as a hang."""
    if fresh:
        return
    names = ", ".join(r.name for r in rules)
    if not fired:
        err_console().print(f"no rule fired ({len(rules)} checked: {escape(names)})", highlight=False)
    else:
        again = ", ".join(sorted({a.rule for a in fired}))
        err_console().print(
            f"{len(fired)} alert(s) fired ({escape(again)}) but were sent before, within their cooldown",
            highlight=False,
        )


def check(
    ctx: typer.Context,
    config: ConfigOpt,
    at: AtOpt = None,
    state: StateOpt = None,
    wait: WaitOpt = 60.0,
) -> None:
    """Evaluate the rules once on the newest bars and send what fires (same as ``run --once``)."""
    run(ctx, config, once=True, at=at, state=state, wait=wait)


def test(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Alerts config whose webhooks get the sample.")
    ] = None,
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="Seconds to keep retrying a failed webhook.")
    ] = 30.0,
) -> None:
    """Fire a sample alert to the console and to every configured webhook."""
    cfg = _config(config) if config else AlertsConfig()
    sample = Alert(
        rule="perpscope alerts test",
        kind="test",
        venue="binance",
        symbol="BTC-USDT-PERP",
        ts_ms=SystemClock().now_ms(),
        title="test alert",
        text="if you read this, delivery works",
    )
    errors = send([sample], cfg.webhooks, console=typer.echo, settings=cfg.delivery, wait_s=wait)
    for e in errors:
        err_console().print(f"[red]delivery failed:[/] {escape(e)}", highlight=False)
    err_console().print(
        f"sent to the console and {len(cfg.webhooks) - len(errors)}/{len(cfg.webhooks)} webhooks"
    )
    if errors:
        raise typer.Exit(1)


app.command("run")(run)
app.command("check")(check)
app.command("test")(test)
