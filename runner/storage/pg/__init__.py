"""PostgreSQL: the second implementation of the queue (``database: postgresql://...``)."""
