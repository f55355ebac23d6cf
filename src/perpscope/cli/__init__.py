"""perpscope.cli."""
