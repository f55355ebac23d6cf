"""Public sources of the flow records (not exchanges): DefiLlama stablecoin supply and the CFTC's public
reporting API (Traders in Financial Futures). Each source: a pure ``parse_*`` (payload → record frame)
and an async client on :class:`perpscope.venues.http.JsonClient` (rate budget, retries, clear errors).

US spot ETF flows have no free public API (Farside publishes a web table): import its CSV export
(``docs/import-formats.md``). Spot klines come from Binance's REST and archive (``perpscope backfill``,
``perpscope download --market spot``).
"""
