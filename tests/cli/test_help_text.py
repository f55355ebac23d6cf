"""Help is never cut: every command's and subcommand's --help, at 120 and 160 columns, wraps its text
instead of ending a cell with an ellipsis."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from perpscope.cli.main import COMMANDS, app

runner = CliRunner()
GROUPS = {"store": ["info"], "heatmap": ["show", "calibrate"], "alerts": ["run", "check", "test"]}
CALLS = [[name] for name in COMMANDS] + [[g, s] for g, subs in GROUPS.items() for s in subs]


@pytest.mark.parametrize("columns", [120, 160])
@pytest.mark.parametrize("command", CALLS, ids=" ".join)
def test_help_is_never_cut(command: list[str], columns: int) -> None:
    res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": str(columns)})
    assert res.exit_code == 0, res.output
    cut = [line for line in res.output.splitlines() if "…" in line]
    assert not cut, cut
