"""perpscope.ingest."""
