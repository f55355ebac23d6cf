"""Who may ask (issue 21): a tokenless loopback server answers only its loopback names (DNS rebinding),
no CDN-loading docs pages, and the token read from the environment or a file rather than ``ps``.

The Host/Origin rules are checked on a real ``perpscope serve`` on 127.0.0.1 (raw HTTP requests with the
headers a browser would send), the token sources through the CLI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from perpscope.api.access import loopback_hosts
from perpscope.cli.serve_cmd import TOKEN_ENV, read_token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(data: Path, env: dict[str, str], *args: str) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    port = _free_port()
    code = "import sys; from perpscope.cli.main import app; sys.argv[0] = 'perpscope'; app()"
    cmd = [sys.executable, "-c", code, "--data-dir", str(data), "serve", "--port", str(port), *args]
    base_env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    proc = subprocess.Popen(cmd, env={**base_env, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/api/v1/version", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.1)
        yield url, port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def loopback(demo_lake) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:  # type: ignore[no-untyped-def]
    """``perpscope serve`` on 127.0.0.1 without a token."""
    yield from _serve(Path(demo_lake.root), {})


@pytest.fixture(scope="module")
def with_token(demo_lake) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:  # type: ignore[no-untyped-def]
    """``perpscope serve`` on 127.0.0.1 with the token given in ``$PERPSCOPE_API_TOKEN``."""
    yield from _serve(Path(demo_lake.root), {TOKEN_ENV: "env-s3cret"})


def test_loopback_hosts_name_the_port() -> None:
    assert loopback_hosts(8123) == {"localhost:8123", "127.0.0.1:8123", "[::1]:8123"}
    assert {"localhost", "127.0.0.1", "[::1]"} <= loopback_hosts(80)


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST"])
def test_loopback_names_with_the_port_are_answered(loopback, name: str) -> None:  # type: ignore[no-untyped-def]
    url, port, _ = loopback
    r = httpx.get(f"{url}/api/v1/health", headers={"Host": f"{name}:{port}"})
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example:{port}",
        "attacker.example",
        "127.0.0.1:1",
        "localhost",
        "127.0.0.1.nip.io:{port}",
        "",
    ],
)
def test_other_hosts_are_refused(loopback, host: str) -> None:  # type: ignore[no-untyped-def]
    # DNS rebinding: a page on attacker.example whose name now resolves to 127.0.0.1 sends this Host
    url, port, _ = loopback
    for path in ("/api/v1/symbols", "/", "/openapi.json"):
        r = httpx.get(f"{url}{path}", headers={"Host": host.format(port=port)})
        assert r.status_code == 403, (host, path, r.text)
        assert "not served" in r.json()["error"]


def test_a_foreign_origin_is_refused(loopback) -> None:  # type: ignore[no-untyped-def]
    url, port, _ = loopback
    ok = httpx.get(f"{url}/api/v1/symbols", headers={"Origin": f"http://localhost:{port}"})
    assert ok.status_code == 200
    for origin in (
        "http://attacker.example",
        f"http://attacker.example:{port}",
        "null",
        f"https://127.0.0.1:{port}",
    ):
        r = httpx.get(f"{url}/api/v1/symbols", headers={"Origin": origin})
        assert r.status_code == 403, (origin, r.text)


def test_no_cdn_docs_pages(loopback) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = loopback
    assert httpx.get(f"{url}/docs").status_code == 404
    assert httpx.get(f"{url}/redoc").status_code == 404
    schema = httpx.get(f"{url}/openapi.json")
    assert schema.status_code == 200 and schema.json()["paths"]
    assert "cdn" not in schema.text.lower() and "<script" not in schema.text.lower()


def test_token_from_the_environment_is_required_and_not_in_ps(with_token) -> None:  # type: ignore[no-untyped-def]
    url, _, proc = with_token
    assert httpx.get(f"{url}/api/v1/symbols").status_code == 401
    good = httpx.get(f"{url}/api/v1/symbols", headers={"Authorization": "Bearer env-s3cret"})
    assert good.status_code == 200
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    assert b"env-s3cret" not in cmdline  # what `ps` shows
    # with a token the Host rule is off: a reverse proxy may name the server anything, the token guards it
    proxied = httpx.get(
        f"{url}/api/v1/symbols", headers={"Authorization": "Bearer env-s3cret", "Host": "perpscope.lan"}
    )
    assert proxied.status_code == 200


def test_read_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "token"
    f.write_text("from-file\nignored second line\n")
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert read_token("from-flag", f) == "from-file"
    assert read_token("from-flag", None) == "from-flag"
    assert read_token(None, None) == "from-env"
    monkeypatch.delenv(TOKEN_ENV)
    assert read_token(None, None) is None


@pytest.mark.parametrize("content", [None, "", "\n  \n"])
def test_unusable_token_file_is_refused(tmp_path: Path, content: str | None) -> None:
    from perpscope.cli.main import app

    f = tmp_path / "token"
    if content is not None:
        f.write_text(content)
    r = CliRunner().invoke(
        app, ["--data-dir", str(tmp_path), "serve", "--host", "0.0.0.0", "--token-file", str(f)]
    )
    assert r.exit_code == 2
    assert "--token-file" in r.output


def test_serve_help_says_token_is_visible_in_ps() -> None:
    from perpscope.cli.main import app

    r = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "ps" in r.output and TOKEN_ENV in r.output and "--token-file" in r.output
