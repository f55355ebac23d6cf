"""What the API's routes depend on (FastAPI dependencies): the app's data source and configuration, and
the checked query of a view (venue scope, symbol, range and bar cap)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from perpscope.api import views
from perpscope.api.config import ApiConfig
from perpscope.api.params import check_symbol, check_time, check_venue
from perpscope.api.source import DataSource


def app_source(request: Request) -> DataSource:
    """The :class:`DataSource` the application holds (one per app, created by ``create_app``)."""
    src: DataSource = request.app.state.source
    return src


def app_config(request: Request) -> ApiConfig:
    """The application's :class:`ApiConfig`."""
    cfg: ApiConfig = request.app.state.config
    return cfg


Source = Annotated[DataSource, Depends(app_source)]
Config = Annotated[ApiConfig, Depends(app_config)]

Sym = Annotated[str, Query(min_length=1, max_length=40, description="BTC-USDT-PERP or BTCUSDT")]
Ven = Annotated[str, Query(min_length=1, max_length=32, description="Venue, e.g. binance")]
From = Annotated[str | None, Query(alias="from", max_length=40, description="Start (UTC date or ms)")]
To = Annotated[str | None, Query(alias="to", max_length=40, description="End, exclusive (UTC date or ms)")]
Points = Annotated[int | None, Query(ge=10, le=5_000, description="Bars per series at most")]


@dataclass(frozen=True, slots=True)
class AskedRange:
    """What a request names, each part checked (400 when malformed) but not yet looked up in the store:
    venue scope, symbol, and ``[start_ms, end_ms)`` (ms UTC; None where the request leaves it open)."""

    venue: str
    symbol: str
    start_ms: int | None
    end_ms: int | None


def asked_range(
    venue: Ven = "binance", symbol: Sym = "BTC-USDT-PERP", frm: From = None, to: To = None
) -> AskedRange:
    """The :class:`AskedRange` of a request's ``venue``, ``symbol``, ``from`` and ``to`` parameters."""
    return AskedRange(check_venue(venue), check_symbol(symbol), check_time(frm, "from"), check_time(to, "to"))


Asked = Annotated[AskedRange, Depends(asked_range)]


def range_query(src: Source, cfg: Config, asked: Asked) -> views.Query:
    """The checked venue scope, symbol and ``[from, to)`` of a request (404 when the store lacks them)."""
    return views.make_query(src, asked.venue, asked.symbol, asked.start_ms, asked.end_ms, cfg.limits)


RangeQuery = Annotated[views.Query, Depends(range_query)]


def points_query(q: RangeQuery, cfg: Config, max_points: Points = None) -> views.Query:
    """:func:`range_query` and the bar cap ``max_points`` of a downsampled series."""
    return views.with_points(q, cfg.limits, max_points)


PointsQuery = Annotated[views.Query, Depends(points_query)]
