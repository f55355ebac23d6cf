"""perpscope.venues.bybit."""
