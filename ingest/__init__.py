"""Camera ingest: one reader per camera, JPEG frames onto Redis streams (see issue: pipeline)."""
