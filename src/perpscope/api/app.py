"""The read-only HTTP API (FastAPI): JSON views of the store and of the computations over it.

Every route is a GET; nothing here writes to the store. Inputs are validated (:mod:`perpscope.api.params`
and :mod:`perpscope.api.deps`) and the symbol must be one the store holds, so no parameter reaches a path
or a query unchecked. Errors are JSON ``{"error": message}``: 4xx for a request the API refuses, 500 with
the reason when the store cannot be read. Who may ask (token, loopback hosts): :mod:`perpscope.api.access`.
Routes: :mod:`perpscope.api.routes_store`, :mod:`perpscope.api.routes_views` and
:mod:`perpscope.api.screener` (the dashboard's home), under ``/api/v1``.
"""

from __future__ import annotations

import logging
import threading

import polars as pl
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from perpscope import __version__
from perpscope.api import routes_flows, routes_store, routes_views, screener
from perpscope.api.access import guard
from perpscope.api.config import ApiConfig
from perpscope.api.json_response import OrjsonResponse, error
from perpscope.api.params import ApiError
from perpscope.api.source import OBJECT_VERSION_TTL_S, DataSource
from perpscope.api.views import precompute, warm_up
from perpscope.core.errors import PerpscopeError
from perpscope.store import Lake
from perpscope.store.object_lake import ObjectLake

PREFIX = "/api/v1"

__all__ = ["PREFIX", "ApiConfig", "create_app"]


def _warm(src: DataSource, config: ApiConfig, done: threading.Event) -> None:
    """The server's start-up work: numba set up, then :func:`~perpscope.api.views.precompute` (a store that
    cannot be read is left to the requests, which say why); ``done`` is set at the end either way."""
    try:
        warm_up()
        if config.precompute:
            precompute(src, config.limits, config.cascade)
    # a damaged store file (a named StoreError, or polars' ComputeError from a scan that met a damaged
    # Parquet footer) or an unreadable one: the requests that need it answer with the reason; anything
    # else is a bug and is raised in this thread (printed by threading's excepthook)
    except (PerpscopeError, OSError, pl.exceptions.ComputeError) as e:
        logging.getLogger(__name__).warning("start-up precomputation stopped: %s", e)
    finally:
        done.set()


def create_app(config: ApiConfig) -> FastAPI:
    """The API application over ``config.data_dir`` (``perpscope serve`` mounts the dashboard on it).

    The OpenAPI schema is served at ``/openapi.json`` (plain JSON, nothing loaded from elsewhere); the
    ``/docs`` and ``/redoc`` pages are off: they load their scripts from a CDN.
    """
    app = FastAPI(
        title="perpscope API",
        version=__version__,
        description="Read-only views of a perpscope store: coverage, records, metrics, heatmap, regimes, "
        "cascade. Instants are int ms UTC; prices in quote currency; notionals in USD.",
        default_response_class=OrjsonResponse,
        docs_url=None,
        redoc_url=None,
    )
    lake = config.lake if config.lake is not None else Lake(config.data_dir)
    app.state.source = DataSource(
        lake,
        cache_bytes=config.cache_bytes,
        cache_entries=config.cache_entries,
        computing=config.computing,
        # an s3:// lake's fingerprint is a LIST per partition: looked at less often (source.py)
        version_ttl_s=OBJECT_VERSION_TTL_S if isinstance(lake, ObjectLake) else 1.0,
    )
    app.state.config = config
    # numba's one-time set-up, then the symbols' whole-history readings and the home screener, off the
    # first request's path (perpscope.api.views.warm_up, .precompute); /health says when they are done
    app.state.warm = threading.Event()
    threading.Thread(
        target=_warm,
        args=(app.state.source, config, app.state.warm),
        name="perpscope-api-warm-up",
        daemon=True,
    ).start()
    app.middleware("http")(guard(config))
    app.include_router(routes_store.router, prefix=PREFIX)
    app.include_router(routes_views.router, prefix=PREFIX)
    app.include_router(screener.router, prefix=PREFIX)
    app.include_router(routes_flows.router, prefix=PREFIX)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        return error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def bad_params(_: Request, exc: RequestValidationError) -> Response:
        msgs = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()]
        return error(422, "; ".join(msgs)[:500])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(pl.exceptions.ComputeError)
    async def unreadable_store(_: Request, exc: pl.exceptions.ComputeError) -> Response:
        # polars raises ComputeError for a Parquet file it cannot decode (a truncated or foreign file):
        # the server's data is broken, not the request; say so instead of hiding the view
        return error(
            500,
            f"the store in {lake.uri(lake.root)} could not be read: {str(exc).splitlines()[0][:300]} "
            "(a damaged Parquet file? `perpscope store info` lists the store; re-import the month or "
            "move the damaged file away)",
        )

    return app
