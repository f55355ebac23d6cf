"""perpscope.dashboard — the web page that draws the API's views (Plotly, served locally: no CDN, no
build step), and the self-contained report page built from the same script.

:func:`mount` adds the page to an API application (``perpscope serve``); :func:`report_html` writes the
same views with the data embedded (``perpscope report``). Details: ``docs/dashboard.md``.
"""

from perpscope.dashboard.page import mount, report_html, static_dir

__all__ = ["mount", "report_html", "static_dir"]
