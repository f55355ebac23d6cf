"""perpscope.store."""
