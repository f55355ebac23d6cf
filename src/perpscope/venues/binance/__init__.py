"""perpscope.venues.binance."""
