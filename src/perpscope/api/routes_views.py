"""Routes of the computed views: metrics, heatmap, zones, regimes, cascade and the dashboard bundle."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from perpscope.api import model_views, views
from perpscope.api.deps import Config, PointsQuery, RangeQuery, Source
from perpscope.api.json_response import OrjsonResponse
from perpscope.api.params import ApiError

router = APIRouter()


@router.get("/metrics", summary="Per-bar metrics panel, downsampled to at most max_points bars")
def metrics(
    src: Source,
    q: PointsQuery,
    cols: Annotated[str | None, Query(max_length=500, description="Comma-separated columns")] = None,
) -> dict[str, Any]:
    want = [c.strip() for c in cols.split(",") if c.strip()] if cols else None
    if want is not None:
        avail = set(views.panel(src, q)[0].columns)
        bad = [c for c in want if c not in avail]
        if bad:
            raise ApiError(400, f"unknown columns {bad[:5]}; available: {', '.join(sorted(avail))}")
    return views.series_view(src, q, want)


@router.get("/heatmap", summary="Liquidation heatmap grid (coarse), current map and hot zones")
def heatmap(
    src: Source, cfg: Config, q: RangeQuery, zones: Annotated[int, Query(ge=1, le=20)] = 5
) -> dict[str, Any]:
    return views.heatmap_view(src, q, cfg.limits, zones)


@router.get("/zones", summary="Current hot zones only")
def zones(
    src: Source, cfg: Config, q: RangeQuery, k: Annotated[int, Query(ge=1, le=20)] = 5
) -> dict[str, Any]:
    hm = views.heatmap_view(src, q, cfg.limits, k)
    return {"available": hm["available"], "zones": hm.get("zones", {}), "reason": hm.get("reason")}


@router.get("/regimes", summary="Regime timeline with the evidence of each label")
def regimes(src: Source, q: RangeQuery) -> dict[str, Any]:
    return src.cached(("regimes", q), lambda: model_views.regimes_view(views.reading_of(src, q)[0]))


@router.get("/cascade", summary="Cascade fragility curve")
def cascade(src: Source, cfg: Config, q: RangeQuery) -> dict[str, Any]:
    return views.cascade_of(src, q, cfg.cascade)


@router.get(
    "/dashboard",
    summary="Everything the dashboard draws for one symbol and range",
    response_class=OrjsonResponse,
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
def dashboard(src: Source, cfg: Config, q: PointsQuery) -> Response:
    return Response(views.dashboard_json(src, q, cfg.limits, cfg.cascade), media_type="application/json")
