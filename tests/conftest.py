"""Shared test fixtures: where the team's shared real data lives, and a fresh store per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from perpscope.core.config import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def shared_data() -> Path:
    """The shared real-data folder; the test is skipped, saying why, when it is absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("../shared/data (the team's real market data) is not beside this checkout")
    return d


@pytest.fixture
def lake(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An empty store in a temporary data directory."""
    from perpscope.store import Lake

    return Lake(tmp_path / "data")


def _build_shared_store(root: Path, name: str, reverse: bool) -> Path:
    """A store built the README way (``perpscope import``) from the whole shared data folder, once per
    test run (the first worker to get the lock builds it; the others reuse it)."""
    import fcntl

    from typer.testing import CliRunner

    from perpscope.cli.main import app
    from perpscope.ingest.importer import iter_files

    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data (the team's real market data) is not beside this checkout")
    data = root / name
    with (root / f"{name}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if not (data / ".complete").exists():
            # the README's command on the folder; the other order names every file, last file first
            paths = [str(p) for p in reversed(iter_files([shared]))] if reverse else [str(shared)]
            r = CliRunner().invoke(app, ["--data-dir", str(data), "import", *paths])
            assert r.exit_code == 0, r.output
            assert "0 failed" in r.output, r.output
            (data / ".complete").touch()
    return data


def _run_root(factory: pytest.TempPathFactory) -> Path:
    """A folder of this test run shared by its xdist workers (their base temps' parent), or the run's
    own base temp without xdist: never a folder that outlives the run (a store built by older code
    would be reused)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data directory of a store imported from all of ``../shared/data`` (skipped when it is absent)."""
    return _build_shared_store(_run_root(tmp_path_factory), "shared-store", reverse=False)


@pytest.fixture(scope="session")
def shared_store_reversed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same files imported in the reverse order, file by file."""
    return _build_shared_store(_run_root(tmp_path_factory), "shared-store-reversed", reverse=True)
