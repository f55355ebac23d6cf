"""perpscope.venues.csv."""
