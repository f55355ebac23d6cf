"""Every command of the README's "Use" block runs as written: on the store ``perpscope demo`` leaves,
or — where the README says it needs ``../shared/data`` — on a store imported from it.

The commands that need the network, a user's own files or run until stopped are listed below with the
reason; a README command that matches no rule fails the test, so a new line is either run or explained.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perpscope.cli.main import app

README = Path(__file__).resolve().parents[2] / "README.md"
runner = CliRunner()

#: Commands not run here, by their start, and why (their code is tested against loopback servers and
#: fixtures in tests/venues, tests/ingest, tests/api).
NOT_RUN = {
    "perpscope demo": "it builds the store the other commands read (the fixture runs it)",
    "perpscope import ~/Downloads": "a user's own download folder",
    "perpscope import export.csv": "a user's own export and mapping file",
    "perpscope download": "needs the internet (data.binance.vision)",
    "perpscope backfill": "needs the internet (exchange REST APIs)",
    "perpscope fetch-flows": "needs the internet (DefiLlama, CFTC; tests/venues/flows use loopback)",
    "perpscope collect": "needs the internet and runs until Ctrl-C",
    "perpscope serve": "serves until stopped (tests/api and tests/dashboard drive the server)",
    "perpscope alerts run": "runs until stopped, on a user's alerts.toml (tests/alerts, tests/faults run it)",
}


def _use_block_commands() -> list[tuple[str, str]]:
    text = README.read_text()
    block = text[text.index("## Use") :]
    block = block[block.index("```bash") : block.index("```\n", block.index("```bash") + 7)]
    out = []
    for line in block.splitlines():
        if line.startswith("perpscope "):
            command, _, comment = line.partition("#")
            out.append((command.strip(), comment.strip()))
    return out


COMMANDS = _use_block_commands()


def test_the_readme_has_commands_to_run() -> None:
    assert len(COMMANDS) >= 15, COMMANDS


@pytest.fixture
def demo_run(demo_session: tuple[Path, str]) -> tuple[Path, str]:
    return demo_session


@pytest.fixture
def demo_store(demo_session: tuple[Path, str]) -> Path:
    return demo_session[0]


def test_the_commands_the_demo_suggests_run_verbatim(
    demo_run: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, output = demo_run
    suggested = [
        line.strip().partition("#")[0].strip()
        for line in output[output.index("Next") :].splitlines()
        if line.strip().startswith("perpscope ")
    ]
    assert len(suggested) == 3 and all(f"--data-dir {store}" in c for c in suggested), suggested
    monkeypatch.chdir(tmp_path)
    for command in suggested:
        if command.endswith(" serve"):
            continue  # serves until stopped: tests/api drive the server
        res = runner.invoke(app, shlex.split(command)[1:], env={"COLUMNS": "80"})
        assert res.exit_code == 0 and res.output.strip(), f"{command}\n{res.output}"


@pytest.mark.parametrize(("command", "comment"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_readme_command_runs_as_written(
    command: str,
    comment: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    skip = next((why for start, why in NOT_RUN.items() if command.startswith(start)), None)
    if skip:
        pytest.skip(f"not run here: {skip}")
    needs_shared = "../shared/data" in comment
    store = request.getfixturevalue("shared_store" if needs_shared else "demo_store")
    monkeypatch.chdir(tmp_path)  # files the command writes (map.html, report.html, studies) land here
    args = shlex.split(command)[1:]
    res = runner.invoke(app, ["--data-dir", str(store), *args], env={"COLUMNS": "80"})
    assert res.exit_code == 0, f"{command}\n{res.output}"
    assert res.output.strip(), f"{command} printed nothing"
    assert not re.search(r"Traceback|build_panel|_frames", res.output), res.output
