"""perpscope.report."""
