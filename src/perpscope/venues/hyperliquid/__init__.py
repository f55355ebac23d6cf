"""perpscope.venues.hyperliquid: Hyperliquid info endpoint: wire parsing, client, polled live feed."""
