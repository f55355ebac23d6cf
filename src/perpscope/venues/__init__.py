"""perpscope.venues."""
