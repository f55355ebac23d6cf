"""perpscope.alerts."""
