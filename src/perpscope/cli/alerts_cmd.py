"""``perpscope alerts``: watch the store with alert rules (``run``), check once (``check``), fire a
sample through every configured target (``test``).

The store is read only; a collector (``perpscope collect``) writing to the same data directory is what
makes the metrics live.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from perpscope.alerts import Alert, AlertsConfig, AlertState, Rule, evaluate, load_config, send
from perpscope.cli.common import err_console, fail, lake
from perpscope.cli.heatmap_cmd import heatmap_of
from perpscope.core.errors import InputError
from perpscope.core.time import DAY_MS, SystemClock
from perpscope.metrics import build_panel
from perpscope.store import Lake
from perpscope.store.reader import read

app = typer.Typer(help="Alerts over live metrics: rules in a TOML file, console and webhook delivery.")

#: History read per check: enough for the panel's 30-day look-backs.
HISTORY_MS = 35 * DAY_MS

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Alerts config (TOML, see docs/alerts.md).")]


def _config(path: Path) -> AlertsConfig:
    try:
        return load_config(path)
    except InputError as e:
        raise fail(str(e)) from None


def _panel(lk: Lake, venue: str, symbol: str, end_ms: int) -> pl.DataFrame:
    start = end_ms - HISTORY_MS
    recs = ("candles", "funding", "open_interest", "liquidations", "long_short_ratios")
    f = {r: read(lk, r, venue=venue, symbol=symbol, start_ms=start, end_ms=end_ms) for r in recs}
    c = f["candles"].filter(pl.col("price_type") == "trade")
    if c.is_empty():
        return pl.DataFrame()
    every = int(c.get_column("interval_ms").min())  # type: ignore[arg-type]
    c = c.filter(pl.col("interval_ms") == every)
    others = {k: (v if v.height else None) for k, v in f.items() if k != "candles"}
    p = build_panel(
        every,
        candles=c,
        funding=others["funding"],
        open_interest=others["open_interest"],
        liquidations=others["liquidations"],
        long_short_ratios=others["long_short_ratios"],
    )
    return p.filter(pl.col("close").is_not_null())


def _regimes(panel: pl.DataFrame) -> pl.DataFrame | None:
    try:
        classify = importlib.import_module("perpscope.regimes").classify
    except (ImportError, AttributeError):
        return None
    out: Any = classify(panel)
    return out if isinstance(out, pl.DataFrame) else None


def check_rules(lk: Lake, rules: tuple[Rule, ...], end_ms: int | None = None) -> list[Alert]:
    """Every alert the rules raise on the newest bar of their symbols (before cooldown/de-duplication)."""
    out: list[Alert] = []
    panels: dict[tuple[str, str], pl.DataFrame] = {}
    for r in rules:
        key = (r.venue, r.symbol)
        if key not in panels:
            last = read(lk, "candles", venue=r.venue, symbol=r.symbol, columns=["ts_ms"])
            if last.is_empty():
                err_console().print(
                    f"[yellow]warning:[/] rule {r.name!r}: no candles for {r.venue} {r.symbol}"
                )
                panels[key] = pl.DataFrame()
                continue
            end = end_ms or int(last.get_column("ts_ms").dt.epoch("ms").max()) + 1  # type: ignore[arg-type]
            panels[key] = _panel(lk, r.venue, r.symbol, end)
        p = panels[key]
        if p.is_empty():
            continue
        regimes = _regimes(p) if r.kind == "regime_change" else None
        zones = None
        if r.kind == "hot_zone":
            end = int(p.get_column("ts_ms").dt.epoch("ms").max()) + 1  # type: ignore[arg-type]
            hm = heatmap_of(
                lk, r.venue, r.symbol, None, end, zones=int(r.param("zones")), width=float(r.param("width"))
            )
            zones = hm.zones
        out += evaluate(r, p, regimes=regimes, zones=zones)
    return out


def _deliver(cfg: AlertsConfig, alerts: list[Alert]) -> None:
    for e in send(alerts, cfg.webhooks, console=lambda m: typer.echo(m)):
        err_console().print(f"[yellow]delivery failed:[/] {e}")


def run(
    ctx: typer.Context,
    config: ConfigOpt,
    once: Annotated[bool, typer.Option("--once", help="Check once and exit.")] = False,
    max_checks: Annotated[int | None, typer.Option(help="Stop after this many checks.")] = None,
) -> None:
    """Check the rules every poll_seconds; send new alerts (cooldown and de-duplication per rule)."""
    cfg = _config(config)
    if not cfg.rules:
        raise fail(f"{config}: no [[rule]] entries; see docs/alerts.md for an example")
    lk, state, n = lake(ctx), AlertState(), 0
    clock = SystemClock()
    while True:
        started = clock.now_ms()
        alerts = check_rules(lk, cfg.rules)
        cool = {r.name: r.cooldown_ms for r in cfg.rules}
        _deliver(cfg, [a for a in alerts if state.admit(a, cool[a.rule])])
        n += 1
        if once or (max_checks is not None and n >= max_checks):
            return
        time.sleep(max(0.0, cfg.poll_seconds - (clock.now_ms() - started) / 1000))


def check(ctx: typer.Context, config: ConfigOpt) -> None:
    """Evaluate the rules once on the newest bars and send what fires (same as ``run --once``)."""
    run(ctx, config, once=True)


def test(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Alerts config whose webhooks get the sample.")
    ] = None,
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
    errors = send([sample], cfg.webhooks, console=lambda m: typer.echo(m))
    for e in errors:
        err_console().print(f"[red]delivery failed:[/] {e}")
    err_console().print(
        f"sent to the console and {len(cfg.webhooks) - len(errors)}/{len(cfg.webhooks)} webhooks"
    )
    if errors:
        raise typer.Exit(1)


app.command("run")(run)
app.command("check")(check)
app.command("test")(test)
