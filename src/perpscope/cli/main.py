"""The ``perpscope`` command: the composition root that wires settings, store, venues and views.

Command modules are imported when their command runs (or when help lists them), not at start-up:
importing all of them (numba, FastAPI, the heatmap models …) took 1.5–2 s before any command began,
more than ``perpscope store info`` itself needs.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from perpscope import __version__
from perpscope.core.config import DATA_ENV, ConfigFileError, Settings, UserConfig, load_user_config

if TYPE_CHECKING:  # typer ships its own copy of click; these are its types
    from typer._click.core import Command, Context
    from typer._click.formatting import HelpFormatter

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
    "flows": ("perpscope.cli.flows_cmd", "flows"),
    "fetch-flows": ("perpscope.cli.fetch_flows_cmd", "fetch_flows_cmd"),
    "regimes": ("perpscope.cli.regimes_cmd", "regimes"),
    "evaluate": ("perpscope.cli.evaluate_cmd", "evaluate"),
    "serve": ("perpscope.cli.serve_cmd", "serve"),
    "report": ("perpscope.cli.report_cmd", "report"),
    "store": ("perpscope.cli.store_cmd", "app"),
    "heatmap": ("perpscope.cli.heatmap_cmd", "app"),
    "alerts": ("perpscope.cli.alerts_cmd", "app"),
}


class LazyGroup(TyperGroup):
    """The root group: builds a subcommand from :data:`COMMANDS` the first time it is asked for.

    ``perpscope --help`` lists every command with its first help paragraph, read from the command's
    source (:func:`short_help`), so listing them imports none of them (1.5 s → 0.1 s)."""

    _listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return [*COMMANDS, *(n for n in super().list_commands(ctx) if n not in COMMANDS)]

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            _format_help(self, super().format_help, ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in COMMANDS:
            if self._listing:  # a stand-in carrying the help line; the command is built when run
                return TyperCommand(cmd_name, help=short_help(cmd_name))
            found = fit_help(_load(cmd_name))
            self.add_command(found, cmd_name)
        return found


#: Narrower than this, typer's rich help table cuts long option names ("--writer-give-up-seco…") to
#: fit its six columns; click's plain layout gives a long name its own line and wraps the help under it.
RICH_HELP_MIN_COLUMNS = 100


def _format_help(
    cmd: TyperCommand | TyperGroup,
    fmt: Callable[[Context, HelpFormatter], None],
    ctx: Context,
    formatter: HelpFormatter,
) -> None:
    """``fmt`` (the command's own help formatting) in typer's rich layout, or in click's plain one when
    the terminal is narrower than :data:`RICH_HELP_MIN_COLUMNS` (``$COLUMNS`` when set)."""
    mode = cmd.rich_markup_mode
    if shutil.get_terminal_size().columns < RICH_HELP_MIN_COLUMNS:
        cmd.rich_markup_mode = None  # typer's format_help falls back to click's when this is None
    try:
        fmt(ctx, formatter)
    finally:
        cmd.rich_markup_mode = mode


def fit_help(cmd: Command) -> Command:
    """``cmd`` (and a group's subcommands) with help that shows every option name whole at any width
    (:func:`_format_help`); typer builds these command objects, so their method is replaced, not
    subclassed."""
    if isinstance(cmd, TyperCommand | TyperGroup):
        own = cmd.format_help
        setattr(cmd, "format_help", partial(_format_help, cmd, own))  # noqa: B010 - an instance's method
    for sub in getattr(cmd, "commands", {}).values():
        fit_help(sub)
    return cmd


def short_help(name: str) -> str:
    """The first help paragraph of command ``name`` read from its module's source with :mod:`ast` (the
    function's docstring, or a group's ``typer.Typer(help=...)``), without importing the module."""
    import ast
    import importlib.util

    module, attr = COMMANDS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    text = ""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            text = ast.get_docstring(node) or ""
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == attr for t in node.targets
        ):
            call = node.value
            if isinstance(call, ast.Call):
                for kw in call.keywords:
                    if kw.arg == "help" and isinstance(kw.value, ast.Constant):
                        text = str(kw.value.value)
    return " ".join(text.strip().split("\n\n")[0].split())


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
        str | None,  # a folder or an object-store URL (s3://bucket/prefix), which a Path would mangle
        typer.Option(
            "--data-dir",
            envvar=DATA_ENV,
            help="Data directory (the Parquet store) or s3://bucket/prefix. "
            "Default: ~/.local/share/perpscope.",
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
