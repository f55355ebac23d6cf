"""perpscope.dashboard."""
