"""perpscope.venues.archive."""
