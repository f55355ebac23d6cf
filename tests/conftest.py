"""Shared test fixtures: where the team's shared real data lives, and a fresh store per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the project root (or ``$PERPSCOPE_SHARED_DATA``), if present."""
    env = os.environ.get("PERPSCOPE_SHARED_DATA")
    cand = Path(env) if env else ROOT.parent / "shared" / "data"
    return cand if (cand / "SOURCES.md").exists() else None


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
