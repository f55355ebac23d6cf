"""``perpscope serve``: the read-only API and the dashboard in one local web server.

Binds to 127.0.0.1 by default. Binding to any other address needs a token (``--token`` or
``$PERPSCOPE_TOKEN``): every API request must then carry it, and the start-up message says so.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Annotated

import typer
from fastapi import FastAPI

from perpscope.api import ApiConfig, create_app
from perpscope.assemble.cascade import fragility_provider as cascade_provider
from perpscope.cli.common import data_dir, err_console, fail
from perpscope.dashboard import mount

TOKEN_ENV = "PERPSCOPE_TOKEN"


def build_app(data: Path, token: str | None = None) -> FastAPI:
    """The API over ``data`` with the dashboard mounted at ``/`` and the cascade view wired in."""
    app = create_app(ApiConfig(data_dir=data, token=token, cascade=cascade_provider(data)))
    mount(app)
    return app


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind. Anything but loopback needs --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            envvar=TOKEN_ENV,
            help="Token every API request must carry (Authorization: Bearer).",
            show_default=False,
        ),
    ] = None,
    new_token: Annotated[
        bool, typer.Option("--new-token", help="Generate a random token and print it.")
    ] = False,
) -> None:
    """Serve the read-only API (/api/v1, schema /openapi.json) and the dashboard (/) over the store."""
    import uvicorn

    if new_token:
        token = secrets.token_urlsafe(24)
    if not is_loopback(host) and not token:
        raise fail(
            f"binding to {host} exposes the API beyond this machine; pass --token TOKEN (or set "
            f"${TOKEN_ENV}, or --new-token), or bind to 127.0.0.1"
        )
    data = data_dir(ctx)
    app = build_app(data, token)
    con = err_console()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    where = f"{host}:{port} (all interfaces)" if host in ("0.0.0.0", "::") else f"{host}:{port}"
    con.print(
        f"perpscope serving [bold]{data}[/] (read only) on {where}: dashboard /, API /api/v1, "
        "schema /openapi.json"
    )
    if token:
        con.print(
            "[bold yellow]token required[/] on every API request (Authorization: Bearer …); open the "
            f"dashboard as http://{shown}:{port}/?token={token if new_token else 'TOKEN'}"
        )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
