"""perpscope.core."""
