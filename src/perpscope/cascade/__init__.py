"""perpscope.cascade."""
