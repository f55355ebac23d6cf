"""Route of the flows view (the dashboard's flows panel): ETF flows, stablecoin supply, CME positioning,
perp/spot volume and spot taker imbalance of a coin, aligned per bar with the price, and the flow evidence
at the range's end (:func:`perpscope.assemble.flows.flows_view`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from perpscope.api.deps import Asked, Config, Source
from perpscope.api.params import ApiError, check_range
from perpscope.assemble.errors import StoreInputError
from perpscope.assemble.flows import flows_view
from perpscope.core.time import interval_ms

router = APIRouter()


@router.get(
    "/flows", summary="Flows of a coin per bar (ETF, stablecoins, CME, perp/spot) and the flow evidence"
)
def flows(
    src: Source,
    cfg: Config,
    asked: Asked,
    every: Annotated[Literal["1h", "4h", "1d"], Query(description="Bar length")] = "1d",
) -> dict[str, Any]:
    sym, ven, lo, hi = asked.symbol, asked.venue, asked.start_ms, asked.end_ms
    if "," in ven or ven == "all":
        raise ApiError(400, "flows read one venue's perp/spot volume: give one venue, e.g. binance")
    if lo is not None and hi is not None:
        check_range(lo, hi, cfg.limits)
    every_ms = interval_ms(every)

    def make() -> dict[str, Any]:
        try:
            view = flows_view(src.lake, sym, lo, hi, every_ms, venue=ven)
        except StoreInputError as e:
            raise ApiError(404, str(e)) from e
        check_range(view.start_ms, view.end_ms, cfg.limits)
        return view.to_json()

    return src.cached(("flows", sym, ven, lo, hi, every_ms), make)
