"""The CLI's doors to :mod:`perpscope.assemble`: a metrics panel and a heatmap with the CLI's time
parsing and error handling (a store that cannot give the inputs exits via
:func:`~perpscope.cli.common.fail`). Shared by ``metrics``, ``regimes``, ``heatmap`` and the demo."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import plotly.graph_objects as go

from perpscope.assemble import StoreInputError
from perpscope.assemble import heatmap as assemble_heatmap
from perpscope.assemble.panel import MarketPanel, market_panel
from perpscope.cli.common import fail
from perpscope.core.time import interval_ms, ms_to_iso, parse_time_ms
from perpscope.report.heatmap_chart import heatmap_figure, quote_of
from perpscope.store import Lake


def load_panel(
    lk: Lake, venue: str, symbol: str, start: str | None, end: str | None, every: str, *, warm_ms: int = 0
) -> MarketPanel:
    """The panel of ``symbol`` within the venue scope ``venue`` over ``[start, end)``, with provenance
    (and ``warm_ms`` of bars before ``start``: :func:`perpscope.assemble.panel.market_panel`)."""
    try:
        every_ms = interval_ms(every)
        hi = parse_time_ms(end) if end else None
        lo = parse_time_ms(start) if start else None
    except ValueError as e:
        raise fail(str(e)) from e
    try:
        return market_panel(lk, venue, symbol, lo, hi, every_ms, warm_ms=warm_ms)
    except StoreInputError as e:
        raise fail(str(e)) from e


@dataclass(frozen=True)
class HeatmapView(assemble_heatmap.HeatmapView):
    """:class:`perpscope.assemble.heatmap.HeatmapView` with its terminal headline and chart."""

    @property
    def headline(self) -> str:
        return (
            f"[bold]{self.venue} {self.symbol}[/] hot zones after the bar of {ms_to_iso(self.last_ms)} UTC — "
            f"price {self.source.last_close:,.2f} — {self.label}"
        )

    def figure(self, *, with_map: bool = True) -> go.Figure:
        """The chart (``with_map``: with the liquidation map by leverage and its cumulative panel)."""
        return heatmap_figure(
            self.bars,
            self.source,
            zones=self.zones,
            title=f"{self.venue} {self.symbol} — {self.label}",
            quote=quote_of(self.symbol),
            with_map=with_map,
        )


def heatmap_of(
    lk: Lake, venue: str, symbol: str, start: int | None = None, end: int | None = None, **options: Any
) -> HeatmapView:
    """:func:`perpscope.assemble.heatmap.heatmap_of` (same ``options``: model, every, oi_venue, oi_symbol,
    zones, width); a store that cannot give its inputs exits via :func:`~perpscope.cli.common.fail`."""
    try:
        v = assemble_heatmap.heatmap_of(lk, venue, symbol, start, end, **options)
    except StoreInputError as e:
        raise fail(str(e)) from e
    return HeatmapView(**{f.name: getattr(v, f.name) for f in fields(v)})
