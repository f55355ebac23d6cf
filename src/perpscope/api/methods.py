"""How each number on the dashboard is computed, in one place: the API sends it with every dashboard
answer so the method is one click from the chart (the report embeds the same text)."""

from __future__ import annotations

#: Per view: a short statement of the method and the document that has the details.
METHODS: dict[str, dict[str, str]] = {
    "price": {
        "text": "Perp trade candles from the store, resampled to the shown bar length (open = first open, "
        "high = max, low = min, close = last close). The bar length is picked server-side so the range "
        "holds at most ~1,500 bars.",
        "doc": "docs/metrics.md#bars",
    },
    "heatmap": {
        "text": "Model book of the USD that would be force-closed at each price: the oi-change model when "
        "the store has open interest (new OI is split long/short by taker flow and spread over a "
        "leverage mix; liquidation prices from Binance's bracket formula), the trade-flow model "
        "otherwise. A model estimate, not an exchange figure; summed here into 120 price rows.",
        "doc": "docs/heatmap/oi-change.md",
    },
    "zones": {
        "text": "Hot zones: the k windows (0.5 % of price wide) holding the most modelled USD below the "
        "price (longs) and above it (shorts) in the last snapshot; distance is zone mid vs price.",
        "doc": "docs/heatmap/",
    },
    "oi": {
        "text": "Open interest in USD, one-sided (contracts outstanding × price), last snapshot known "
        "by each bar's end; 1d change = OI / OI a day earlier − 1. With several venues: one band per venue, "
        "stacked, and the scope's total (an all-exchange aggregate where the store has one, never counted "
        "twice with the venues it contains); a snapshot older than twice its interval is not carried.",
        "doc": "docs/metrics.md#open-interest",
    },
    "funding": {
        "text": "Last settled funding rate known by each bar's end, as a fraction per its own interval "
        "(bars), and annualized = rate × settlements per 365-day year (line, right axis).",
        "doc": "docs/metrics.md#funding",
    },
    "funding_grid": {
        "text": "Each venue's latest funding rate known by the bar's end, normalized to 8 hours (rate × "
        "8 h / its own interval), as a venue × time grid (red: longs pay, blue: shorts pay). The "
        "several-venue funding line above is their mean weighted by each venue's open interest where "
        "every venue's OI is known, else the plain mean.",
        "doc": "docs/sources.md#venue-scopes",
    },
    "liquidations": {
        "text": "Liquidated notional per bar by the side of the liquidated position (longs down, shorts "
        "up). Venue streams are samples (Binance sends at most one order per symbol per second): lower "
        "bounds. Null before the first recorded liquidation: no data is not zero.",
        "doc": "docs/metrics.md#liquidations",
    },
    "perp_spot": {
        "text": "Perp / spot volume ratio: perp quote volume ÷ spot quote volume of the same venue and "
        "pair in the bar. Shown when the store holds spot candles.",
        "doc": "docs/metrics.md#volume",
    },
    "ratios": {
        "text": "Long/short ratios as the venue publishes them (accounts or positions with net long ÷ "
        "net short), last value known by each bar's end.",
        "doc": "docs/metrics.md#positioning",
    },
    "regimes": {
        "text": "Regime label per bar from perpscope.regimes.classify over the same panel; hover shows "
        "the evidence (the metric values that triggered the label).",
        "doc": "docs/regimes.md",
    },
    "cascade": {
        "text": "Fragility curve from perpscope.cascade: forced selling (USD) triggered by a price shock "
        "of each size, with the liquidations it sets off in turn.",
        "doc": "docs/cascade.md",
    },
}
