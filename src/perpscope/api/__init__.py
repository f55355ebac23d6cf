"""perpscope.api."""
