"""Serving the dashboard page and writing it as one self-contained HTML file.

The page (``static/index.html``, ``app.js``, ``style.css``) is package data; Plotly's JavaScript comes
from the installed plotly package (:func:`plotly.offline.get_plotlyjs`), so nothing is fetched from the
internet at install or run time.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from plotly.offline import get_plotlyjs


def static_dir() -> Path:
    """Folder of the page's files inside the installed package."""
    return Path(str(resources.files("perpscope") / "dashboard" / "static"))


def _asset(name: str) -> str:
    return (static_dir() / name).read_text(encoding="utf-8")


_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


def mount(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` (page: the home screener, or a symbol's view with ``?symbol=``),
    ``/static/*`` (scripts, styles, plotly.js) and ``/favicon.ico`` (the SVG icon) on ``app``.

    Only the package's own files and plotly.js are served: no path from the request reaches the disk.
    """
    plotly_js = get_plotlyjs().encode()
    files = {p.name: p for p in static_dir().iterdir() if p.suffix in _TYPES}
    cache = {"Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return FileResponse(files["index.html"], media_type="text/html", headers=cache)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:  # browsers ask for it on every page: an SVG (they all draw one)
        day = {"Cache-Control": "max-age=86400"}
        return FileResponse(files["favicon.svg"], media_type=_TYPES[".svg"], headers=day)

    @app.get("/dashboard", include_in_schema=False)
    def dashboard() -> Response:
        return RedirectResponse("/")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly() -> Response:
        return Response(plotly_js, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        path = files.get(name)
        if path is None:
            return Response(b'{"error":"not found"}', status_code=404, media_type="application/json")
        return FileResponse(path, media_type=_TYPES[path.suffix], headers=cache)


def _script_json(data: Any) -> str:
    # "</" would end the <script> element early: JSON allows "<\/" for it.
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode().replace("</", "<\\/")


def report_html(data: dict[str, Any], title: str, flows: dict[str, Any] | None = None) -> str:
    """One HTML page with the dashboard's views of ``data`` (an ``/api/v1/dashboard`` answer), plotly.js,
    the script and the style inlined: opens offline, attaches to an e-mail, publishes as is.

    ``flows`` (an ``/api/v1/flows`` answer for the same coin and range) adds the flows panel under the
    views, on the price chart's time axis. Each chart's modebar has Plotly's "download plot as png"
    button (rendered in the browser).
    """
    flows_js = (
        [
            f"<script>{_asset('flows.js')}</script>",
            f"<script>window.PERPSCOPE_FLOWS = {_script_json(flows)};",
            "var px = document.getElementById('chart-price');",
            "PSFlows.render(window.PERPSCOPE_FLOWS, px && px.layout && px.layout.xaxis ? "
            "px.layout.xaxis.range : null);</script>",
        ]
        if flows is not None
        else []
    )
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_asset('style.css')}</style>",
            f"<script>{get_plotlyjs()}</script>",
            "</head><body>",
            f"<header><h1>{html.escape(title)}</h1>"
            "<span class='note' style='color:#9ab'>each chart: camera icon = download as PNG</span></header>",
            '<main id="views"></main>',
            f"<script>{_asset('app.js')}</script>",
            f"<script>window.PERPSCOPE_DATA = {_script_json(data)};",
            "PS.render(window.PERPSCOPE_DATA);</script>",
            *flows_js,
            "</body></html>",
        ]
    )
