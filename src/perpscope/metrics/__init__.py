"""perpscope.metrics."""
