"""The ``perpscope`` command: the composition root that wires settings, store, venues and views.

Command modules are imported when their command runs (or when help lists them), not at start-up:
importing all of them (numba, FastAPI, the heatmap models …) took 1.5–2 s before any command began,
more than ``perpscope store info`` itself needs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from perpscope import __version__
from perpscope.core.config import DATA_ENV, ConfigFileError, Settings, UserConfig, load_user_config

if TYPE_CHECKING:  # typer ships its own copy of click; these are its types
    from typer._click.core import Command, Context

#: Subcommands in help order: name → (module, attribute). An attribute that is a ``typer.Typer`` is a
#: command group (``perpscope store info``); a function is a single command.
COMMANDS: dict[str, tuple[str, str]] = {
    "import": ("perpscope.cli.importing", "import_files"),
    "demo": ("perpscope.cli.demo", "demo"),
    "download": ("perpscope.cli.download", "download"),
    "cascade": ("perpscope.cli.cascade_cmd", "cascade"),
    "backfill": ("perpscope.cli.collect_cmd", "backfill"),
    "collect": ("perpscope.cli.collect_cmd", "collect"),
    "collect-status": ("perpscope.cli.collect_cmd", "status"),
    "metrics": ("perpscope.cli.metrics_cmd", "metrics"),
    "regimes": ("perpscope.cli.regimes_cmd", "regimes"),
    "evaluate": ("perpscope.cli.evaluate_cmd", "evaluate"),
    "serve": ("perpscope.cli.serve_cmd", "serve"),
    "report": ("perpscope.cli.report_cmd", "report"),
    "store": ("perpscope.cli.store_cmd", "app"),
    "heatmap": ("perpscope.cli.heatmap_cmd", "app"),
    "alerts": ("perpscope.cli.alerts_cmd", "app"),
}


class LazyGroup(TyperGroup):
    """The root group: builds a subcommand from :data:`COMMANDS` the first time it is asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*COMMANDS, *(n for n in super().list_commands(ctx) if n not in COMMANDS)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in COMMANDS:
            found = _load(cmd_name)
            self.add_command(found, cmd_name)
        return found


def _load(name: str) -> Command:
    module, attr = COMMANDS[name]
    target = getattr(importlib.import_module(module), attr)
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        return group
    single = typer.Typer(rich_markup_mode="rich")
    single.command(name)(target)
    return typer.main.get_command(single)


app = typer.Typer(
    cls=LazyGroup,
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
    """perpscope: collect, measure and show derivatives leverage from your own data.

    Defaults may come from a config file: ./perpscope.toml or ~/.config/perpscope/config.toml
    ($PERPSCOPE_CONFIG names another; docs/config.md)."""
    try:
        cfg = load_user_config()
    except ConfigFileError as e:
        from rich.markup import escape

        from perpscope.cli.common import fail

        raise fail(escape(str(e))) from None  # "[defaults]" is the file's, not rich markup
    s = Settings.from_env(data_dir)
    if not s.chosen and cfg.data_dir is not None:  # --data-dir and $PERPSCOPE_DATA come first
        s = Settings(cfg.data_dir, chosen=True)
    ctx.obj = {"settings": s, "data_dir": s.data_dir, "config": cfg}
    name = ctx.invoked_subcommand
    if cfg.path is not None and name:
        ctx.default_map = {name: _command_defaults(ctx, cfg, name)}


def _command_defaults(ctx: Context, cfg: UserConfig, name: str) -> dict[str, object]:
    """The config's defaults for subcommand ``name`` as click's ``default_map`` wants them: its options,
    and for a group (``store``) one entry per subcommand (``info``) with that one's options. A single
    value for an option taking several (``coin = "BTC"`` for ``--coin``) becomes a list of one."""
    cmd = ctx.command.get_command(ctx, name) if isinstance(ctx.command, TyperGroup) else None
    opts = _fitted(cfg.options(name), cmd)
    if cmd is not None and isinstance(cmd, TyperGroup):
        for sub in cmd.list_commands(ctx):
            opts[sub] = _fitted(cfg.options(name, sub), cmd.get_command(ctx, sub))
    return opts


def _fitted(opts: dict[str, object], cmd: Command | None) -> dict[str, object]:
    many = {p.name for p in (cmd.params if cmd is not None else []) if getattr(p, "multiple", False)}
    return {k: [v] if k in many and not isinstance(v, list) else v for k, v in opts.items()}


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # python -m perpscope.cli.main …
    main()
