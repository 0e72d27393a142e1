"""On-disk state: paths (layout), atomic writes, records."""
