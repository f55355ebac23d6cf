"""perpscope.evaluate."""
