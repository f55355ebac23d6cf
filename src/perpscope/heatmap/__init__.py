"""perpscope.heatmap."""
