"""The read-only HTTP API (FastAPI): JSON views of the store and of the computations over it.

Every route is a GET; nothing here writes to the store. Inputs are validated (:mod:`perpscope.api.params`)
and the symbol must be one the store holds, so no parameter reaches a path or a query unchecked. Errors
are JSON ``{"error": message}`` with a 4xx status. With a token configured, every ``/api`` request must
carry it (``Authorization: Bearer TOKEN``, or ``?token=``); it is compared in constant time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import orjson
import polars as pl
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from perpscope import __version__
from perpscope.api import optional, views
from perpscope.api.optional import CascadeProvider
from perpscope.api.params import ApiError, Limits, check_symbol, check_time, check_venue
from perpscope.api.source import SERVED_RECORDS, DataSource
from perpscope.store import Lake

PREFIX = "/api/v1"


def _encode(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


class OrjsonResponse(JSONResponse):
    """JSON via orjson: fast, numpy-aware, NaN → null."""

    def render(self, content: Any) -> bytes:
        return _encode(content)


@dataclass(frozen=True)
class ApiConfig:
    """How the API runs.

    Attributes
    ----------
    data_dir : Path
        The store to read.
    token : str, optional
        Required on every ``/api`` request when set (``perpscope serve`` sets one for non-loopback binds).
    limits : Limits
        Range, page and response size limits.
    max_response_bytes : int
        Answers larger than this are refused with 413 (ask for a shorter range or fewer points).
    cascade : callable, optional
        ``(venue, canonical, end_ms) -> fragility frame``; without it the cascade view says unavailable.
    """

    data_dir: Path
    token: str | None = None
    limits: Limits = field(default_factory=Limits)
    max_response_bytes: int = 8_000_000
    cascade: CascadeProvider | None = None


Sym = Annotated[str, Query(min_length=1, max_length=40, description="BTC-USDT-PERP or BTCUSDT")]
Ven = Annotated[str, Query(min_length=1, max_length=32, description="Venue, e.g. binance")]
From = Annotated[str | None, Query(alias="from", max_length=40, description="Start (UTC date or ms)")]
To = Annotated[str | None, Query(alias="to", max_length=40, description="End, exclusive (UTC date or ms)")]
Points = Annotated[int | None, Query(ge=10, le=5_000, description="Bars per series at most")]


def _authorized(request: Request, token: str) -> bool:
    got = request.headers.get("authorization", "")
    cand = got[7:] if got.lower().startswith("bearer ") else request.query_params.get("token", "")
    return hmac.compare_digest(cand.encode(), token.encode())


def create_app(config: ApiConfig) -> FastAPI:
    """The API application over ``config.data_dir`` (``perpscope serve`` mounts the dashboard on it)."""
    app = FastAPI(
        title="perpscope API",
        version=__version__,
        description="Read-only views of a perpscope store: coverage, records, metrics, heatmap, regimes, "
        "cascade. Instants are int ms UTC; prices in quote currency; notionals in USD.",
        default_response_class=OrjsonResponse,
    )
    src = DataSource(Lake(config.data_dir))
    limits = config.limits
    app.state.source = src
    app.state.config = config

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if config.token and request.url.path.startswith("/api") and not _authorized(request, config.token):
            return OrjsonResponse({"error": "missing or wrong token (Authorization: Bearer …)"}, 401)
        response = await call_next(request)
        size = response.headers.get("content-length")
        if size is not None and int(size) > config.max_response_bytes:
            return OrjsonResponse(
                {
                    "error": f"answer of {int(size):,} bytes exceeds {config.max_response_bytes:,}; "
                    "ask for a shorter range or fewer points"
                },
                413,
            )
        return response

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        return OrjsonResponse({"error": exc.message}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def bad_params(_: Request, exc: RequestValidationError) -> Response:
        msgs = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()]
        return OrjsonResponse({"error": "; ".join(msgs)[:500]}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return OrjsonResponse({"error": str(exc.detail)}, exc.status_code)

    def query(venue: str, symbol: str, frm: str | None, to: str | None, points: int | None) -> views.Query:
        return views.make_query(
            src,
            check_venue(venue),
            check_symbol(symbol),
            check_time(frm, "from"),
            check_time(to, "to"),
            limits,
            points,
        )

    @app.get(f"{PREFIX}/health", summary="Liveness and the store's version fingerprint")
    def health() -> dict[str, Any]:
        return {"ok": True, "version": __version__, "store_version": src.version()}

    @app.get(f"{PREFIX}/version", summary="Store fingerprint: changes when a collector writes new data")
    def version() -> dict[str, str]:
        return {"store_version": src.version()}

    @app.get(f"{PREFIX}/symbols", summary="Venues and symbols with candles, and their time span")
    def symbols() -> dict[str, Any]:
        return {"symbols": src.symbols().to_dicts()}

    @app.get(f"{PREFIX}/coverage", summary="What the store holds per record, venue, symbol and series")
    def coverage() -> dict[str, Any]:
        cov = src.coverage()
        return {"coverage": cov.drop("gap_list").to_dicts() if "gap_list" in cov.columns else cov.to_dicts()}

    @app.get(f"{PREFIX}/records/{{record}}", summary="Raw records of one symbol, paginated")
    def records(
        record: Annotated[str, PathParam(pattern="^[a-z_]{1,32}$", description="e.g. candles, funding")],
        venue: Ven = "binance",
        symbol: Sym = "BTC-USDT-PERP",
        frm: From = None,
        to: To = None,
        limit: Annotated[int, Query(ge=1, le=5_000)] = 1_000,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> dict[str, Any]:
        if record not in SERVED_RECORDS:
            raise ApiError(404, f"unknown record {record[:40]!r}; served: {', '.join(SERVED_RECORDS)}")
        q = query(venue, symbol, frm, to, None)
        df = src.frame(record, q.venue, q.canonical, q.start_ms, q.end_ms)
        page = df.slice(offset, min(limit, limits.max_rows))
        nxt = offset + page.height if offset + page.height < df.height else None
        return {
            "record": record,
            "venue": q.venue,
            "canonical": q.canonical,
            "from_ms": q.start_ms,
            "to_ms": q.end_ms,
            "total": df.height,
            "offset": offset,
            "next_offset": nxt,
            "columns": views.columns(page),
        }

    @app.get(f"{PREFIX}/metrics", summary="Per-bar metrics panel, downsampled to at most max_points bars")
    def metrics(
        venue: Ven = "binance",
        symbol: Sym = "BTC-USDT-PERP",
        frm: From = None,
        to: To = None,
        max_points: Points = None,
        cols: Annotated[str | None, Query(max_length=500, description="Comma-separated columns")] = None,
    ) -> dict[str, Any]:
        q = query(venue, symbol, frm, to, max_points)
        want = [c.strip() for c in cols.split(",") if c.strip()] if cols else None
        if want is not None:
            avail = set(views.panel(src, q)[0].columns)
            bad = [c for c in want if c not in avail]
            if bad:
                raise ApiError(400, f"unknown columns {bad[:5]}; available: {', '.join(sorted(avail))}")
        return views.series_view(src, q, want)

    @app.get(f"{PREFIX}/heatmap", summary="Liquidation heatmap grid (coarse), current map and hot zones")
    def heatmap(
        venue: Ven = "binance",
        symbol: Sym = "BTC-USDT-PERP",
        frm: From = None,
        to: To = None,
        zones: Annotated[int, Query(ge=1, le=20)] = 5,
    ) -> dict[str, Any]:
        return views.heatmap_view(src, query(venue, symbol, frm, to, None), limits, zones)

    @app.get(f"{PREFIX}/zones", summary="Current hot zones only")
    def zones(
        venue: Ven = "binance",
        symbol: Sym = "BTC-USDT-PERP",
        frm: From = None,
        to: To = None,
        k: Annotated[int, Query(ge=1, le=20)] = 5,
    ) -> dict[str, Any]:
        hm = views.heatmap_view(src, query(venue, symbol, frm, to, None), limits, k)
        return {"available": hm["available"], "zones": hm.get("zones", {}), "reason": hm.get("reason")}

    @app.get(f"{PREFIX}/regimes", summary="Regime timeline with the evidence of each label")
    def regimes(
        venue: Ven = "binance", symbol: Sym = "BTC-USDT-PERP", frm: From = None, to: To = None
    ) -> dict[str, Any]:
        q = query(venue, symbol, frm, to, None)
        return optional.regimes_view(views.panel(src, q)[0])

    @app.get(f"{PREFIX}/cascade", summary="Cascade fragility curve")
    def cascade(
        venue: Ven = "binance", symbol: Sym = "BTC-USDT-PERP", frm: From = None, to: To = None
    ) -> dict[str, Any]:
        q = query(venue, symbol, frm, to, None)
        return src.cached(
            ("cascade", q), lambda: optional.cascade_view(config.cascade, q.venue, q.canonical, q.end_ms)
        )

    @app.get(
        f"{PREFIX}/dashboard",
        summary="Everything the dashboard draws for one symbol and range",
        response_class=OrjsonResponse,
        responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
    )
    def dashboard(
        venue: Ven = "binance",
        symbol: Sym = "BTC-USDT-PERP",
        frm: From = None,
        to: To = None,
        max_points: Points = None,
    ) -> Response:
        q = query(venue, symbol, frm, to, max_points)
        # the encoded answer is cached too: repeated requests (many viewers, polling) skip serialization
        body = src.cached(
            ("dashboard-json", q), lambda: _encode(views.dashboard_view(src, q, limits, config.cascade))
        )
        return Response(body, media_type="application/json")

    return app


def symbols_frame(app: FastAPI) -> pl.DataFrame:
    """The symbols the app's store holds (for start-up messages)."""
    src: DataSource = app.state.source
    return src.symbols()
