"""Routes about the store itself: health, version, symbols, coverage and raw records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam

from perpscope import __version__
from perpscope.api import views
from perpscope.api.deps import Config, RangeQuery, Source
from perpscope.api.params import ApiError
from perpscope.api.source import SERVED_RECORDS

router = APIRouter()


@router.get("/health", summary="Liveness, the store's version fingerprint, and whether start-up work is done")
def health(src: Source, request: Request) -> dict[str, Any]:
    warm = getattr(request.app.state, "warm", None)  # set when the start-up precomputation has finished
    return {
        "ok": True,
        "version": __version__,
        "store_version": src.version(),
        "warm": bool(warm and warm.is_set()),
    }


@router.get("/version", summary="Store fingerprint: changes when a collector writes new data")
def version(src: Source) -> dict[str, str]:
    return {"store_version": src.version()}


@router.get("/symbols", summary="Venues and symbols with candles, and their time span")
def symbols(src: Source) -> dict[str, Any]:
    return {"symbols": src.symbols().to_dicts()}


@router.get("/coverage", summary="What the store holds per record, venue, symbol and series")
def coverage(src: Source) -> dict[str, Any]:
    cov = src.coverage()
    return {"coverage": cov.drop("gap_list").to_dicts() if "gap_list" in cov.columns else cov.to_dicts()}


def _record(record: str) -> str:
    if record not in SERVED_RECORDS:
        raise ApiError(404, f"unknown record {record[:40]!r}; served: {', '.join(SERVED_RECORDS)}")
    return record


@router.get("/records/{record}", summary="Raw records of one symbol, paginated")
def records(
    src: Source,
    cfg: Config,
    record: Annotated[str, PathParam(pattern="^[a-z_]{1,32}$", description="e.g. candles, funding")],
    q: RangeQuery,
    limit: Annotated[int, Query(ge=1, le=5_000)] = 1_000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    df = src.frame(_record(record), q.venue, q.canonical, q.start_ms, q.end_ms)
    page = df.slice(offset, min(limit, cfg.limits.max_rows))
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
