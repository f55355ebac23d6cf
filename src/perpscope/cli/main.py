"""The ``perpscope`` command: the composition root that wires settings, store, venues and views."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perpscope import __version__
from perpscope.cli import (
    alerts_cmd,
    cascade_cmd,
    collect_cmd,
    evaluate_cmd,
    heatmap_cmd,
    importing,
    metrics_cmd,
    regimes_cmd,
    report_cmd,
    serve_cmd,
    store_cmd,
)
from perpscope.cli import demo as demo_cmd
from perpscope.cli import download as download_cmd
from perpscope.core.config import DATA_ENV, Settings

app = typer.Typer(
    name="perpscope",
    help="Read the leverage behind crypto prices: funding, open interest, liquidations, positioning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"perpscope {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar=DATA_ENV,
            help="Data directory (the Parquet store). Default: ~/.local/share/perpscope.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """perpscope: collect, measure and show derivatives leverage from your own data."""
    s = Settings.from_env(data_dir)
    ctx.obj = {"settings": s, "data_dir": s.data_dir}


app.command("import")(importing.import_files)
app.add_typer(store_cmd.app, name="store")
app.command("demo")(demo_cmd.demo)
app.command("download")(download_cmd.download)
app.add_typer(heatmap_cmd.app, name="heatmap")
app.command("cascade")(cascade_cmd.cascade)
app.command("backfill")(collect_cmd.backfill)
app.command("collect")(collect_cmd.collect)
app.command("collect-status")(collect_cmd.status)
app.command("metrics")(metrics_cmd.metrics)
app.command("regimes")(regimes_cmd.regimes)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("serve")(serve_cmd.serve)
app.command("report")(report_cmd.report)
app.add_typer(alerts_cmd.app, name="alerts")


def main() -> None:  # pragma: no cover - console entry point
    app()
