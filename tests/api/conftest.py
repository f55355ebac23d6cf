"""A store filled once per session with the bundled real demo data (Binance, see data/demo/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from perpscope.store import Lake


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    from perpscope.cli.demo import demo_data_dir
    from perpscope.ingest.importer import import_paths

    lake = Lake(tmp_path_factory.mktemp("api") / "data")
    report = import_paths([demo_data_dir()], lake)
    assert not report.failed
    return lake


@pytest.fixture(scope="session")
def client(demo_lake: Lake):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from perpscope.cli.serve_cmd import build_app

    # a loopback server without a token answers only its loopback names with the port (Host checked)
    return TestClient(build_app(Path(demo_lake.root), port=8000), base_url="http://127.0.0.1:8000")
