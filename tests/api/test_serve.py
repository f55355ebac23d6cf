"""``perpscope serve`` start-up rules: loopback by default, a token for any other address."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from perpscope.cli.serve_cmd import is_loopback


@pytest.mark.parametrize(
    ("host", "loop"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_non_loopback_bind_without_token_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perpscope.cli.main import app

    monkeypatch.delenv("PERPSCOPE_API_TOKEN", raising=False)
    r = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "serve", "--host", "0.0.0.0"])
    assert r.exit_code == 2
    assert "--token" in r.output
