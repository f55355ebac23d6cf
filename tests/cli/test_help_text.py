"""Help is never cut: every command's and subcommand's --help, at 80, 120 and 160 columns, wraps its text
instead of ending a cell with an ellipsis, and names every option whole."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from perpscope.cli.main import COMMANDS, app

runner = CliRunner()
GROUPS = {"store": ["info"], "heatmap": ["show", "calibrate"], "alerts": ["run", "check", "test"]}
CALLS = [[name] for name in COMMANDS] + [[g, s] for g, subs in GROUPS.items() for s in subs]


def _options(command: list[str]) -> list[str]:
    """Every option spelling of ``command`` (``--writer-give-up-seconds``, ``-q``, ``--no-png`` …), read
    from the click command the CLI builds (so a new option is checked without listing it here)."""
    from perpscope.cli.main import _load

    cmd = _load(command[0])
    for sub in command[1:]:
        cmd = cmd.commands[sub]  # type: ignore[attr-defined]
    return [o for p in cmd.params if not getattr(p, "hidden", False) for o in (*p.opts, *p.secondary_opts)]


@pytest.mark.parametrize("columns", [80, 120, 160])
@pytest.mark.parametrize("command", CALLS, ids=" ".join)
def test_help_is_never_cut(command: list[str], columns: int) -> None:
    res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": str(columns)})
    assert res.exit_code == 0, res.output
    cut = [line for line in res.output.splitlines() if "…" in line]
    assert not cut, cut
    assert max(map(len, res.output.splitlines())) <= columns
    words = set(res.output.replace(",", " ").replace("/", " ").split())
    missing = [o for o in _options(command) if o.startswith("-") and o not in words]
    assert not missing, (missing, res.output)


def test_the_root_help_fits_80_columns() -> None:
    res = runner.invoke(app, ["--help"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "--data-dir" in res.output.split() and "…" not in res.output
    assert max(map(len, res.output.splitlines())) <= 80


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listing_reads_each_commands_own_help(name: str) -> None:
    """``perpscope --help`` shows the help read from source; it is the command's own first paragraph."""
    from perpscope.cli.main import _load, short_help

    own = " ".join(((_load(name).help or "").strip().split("\n\n")[0]).split())
    assert short_help(name) == own and own


def test_listing_the_commands_imports_none_of_them() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from perpscope.cli.main import app, COMMANDS; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "print(sorted({m for m, _ in COMMANDS.values()} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_store_commands_help_reads_no_table_library() -> None:
    """``perpscope store info --help`` (issue 20: start-up under 0.3 s) imports neither polars nor pyarrow:
    the store and its tables are imported by the commands that read them."""
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from perpscope.cli.main import app; "
        "r = CliRunner().invoke(app, ['store', 'info', '--help']); assert r.exit_code == 0, r.output; "
        "assert 'Only this venue' in r.output, r.output; "
        "print(sorted({'polars', 'pyarrow', 'numpy', 'duckdb'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
