"""Fixtures of the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="session")
def demo_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``perpscope demo`` run once for the session at 80 columns: (its store's data dir, its output)."""
    from perpscope.cli.main import app

    out = tmp_path_factory.mktemp("demo-session")
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--no-png"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    return out / "data", res.output
