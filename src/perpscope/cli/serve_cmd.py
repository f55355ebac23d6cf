"""``perpscope serve``: the read-only API and the dashboard in one local web server.

The store may be a folder or an ``s3://`` lake (read through its manifests, answers cached per store
version as on a folder: :mod:`perpscope.api.source`).

Binds to 127.0.0.1 by default; without a token it then answers only requests addressed to a loopback
name with its port (``Host``/``Origin`` checked, :mod:`perpscope.api.access`), which shuts out DNS
rebinding. Binding to any other address needs a token: from ``$PERPSCOPE_API_TOKEN``, a file
(``--token-file``) or ``--token`` (visible to every user of the machine in ``ps``), or ``--new-token``.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer
from fastapi import FastAPI

from perpscope.api import ApiConfig, create_app
from perpscope.api.access import loopback_hosts
from perpscope.assemble.cascade import fragility_provider as cascade_provider
from perpscope.cli.common import err_console, fail, reading_lake
from perpscope.dashboard import mount
from perpscope.store import Lake

TOKEN_ENV = "PERPSCOPE_API_TOKEN"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(
    data: Path | Lake,
    token: str | None = None,
    *,
    port: int,
    host: str = "127.0.0.1",
    precompute: bool = True,
) -> FastAPI:
    """The API over ``data`` (a folder, or a lake: an ``s3://`` one is read through its manifests) with
    the dashboard mounted at ``/`` and the cascade view wired in, to be served on ``host``:``port``;
    ``precompute``: the symbols' readings and the screener computed in the background at start
    (:func:`perpscope.api.views.precompute`).

    Bound to loopback (``host``) without a token, it answers only the loopback names with ``port``.
    """
    lk = data if isinstance(data, Lake) else Lake(data)
    allowed = None
    if is_loopback(host) and not token:
        # the loopback names, and the bound address itself (127.0.0.2 is loopback too)
        allowed = loopback_hosts(port) | ({f"{host}:{port}"} if ":" not in host else set())
    config = ApiConfig(
        data_dir=lk.root,
        token=token,
        allowed_hosts=allowed,
        cascade=cascade_provider(lk),
        lake=lk,
        precompute=precompute,
    )
    app = create_app(config)
    mount(app)
    return app


def read_token(token: str | None, token_file: Path | None) -> str | None:
    """The token from ``--token-file`` (its first line), else ``--token``, else ``$PERPSCOPE_API_TOKEN``.

    Raises
    ------
    typer.Exit
        When the file cannot be read or holds no token.
    """
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip().splitlines()
        except (OSError, UnicodeError) as e:
            raise fail(f"--token-file {token_file}: cannot read it ({e})") from None
        if not text or not text[0].strip():
            raise fail(f"--token-file {token_file}: the file is empty; write the token on its first line")
        return text[0].strip()
    return token or os.environ.get(TOKEN_ENV) or None


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind. Anything but loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help=f"File whose first line is the token every API request must carry (or set ${TOKEN_ENV}).",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help=f"The token itself. Visible to every user of this machine in `ps`: prefer ${TOKEN_ENV} "
            "or --token-file.",
            show_default=False,
        ),
    ] = None,
    new_token: Annotated[
        bool, typer.Option("--new-token", help="Generate a random token and print it.")
    ] = False,
) -> None:
    """Serve the read-only API (/api/v1, schema /openapi.json) and the dashboard (/) over the store."""
    import uvicorn

    secret = secrets.token_urlsafe(24) if new_token else read_token(token, token_file)
    if not is_loopback(host) and not secret:
        raise fail(
            f"binding to {host} exposes the API beyond this machine; give a token (${TOKEN_ENV}, "
            "--token-file FILE, --new-token, or --token TOKEN, which `ps` shows), or bind to 127.0.0.1"
        )
    lk = reading_lake(ctx)  # the demo store when nothing is named and none is at home
    app = build_app(lk, secret, port=port, host=host)
    data = lk.uri(lk.root)
    con = err_console()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    where = f"{host}:{port} (all interfaces)" if host in ("0.0.0.0", "::") else f"{host}:{port}"
    con.print(
        f"perpscope serving [bold]{data}[/] (read only) on {where}: dashboard /, API /api/v1, "
        "schema /openapi.json"
    )
    if secret:
        con.print(
            "[bold yellow]token required[/] on every API request (Authorization: Bearer …); open the "
            f"dashboard as http://{shown}:{port}/?token={secret if new_token else 'TOKEN'}"
        )
    else:
        con.print(f"answering requests for localhost, 127.0.0.1 and [::1] on port {port} only")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
