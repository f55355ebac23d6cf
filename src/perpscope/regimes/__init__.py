"""perpscope.regimes."""
