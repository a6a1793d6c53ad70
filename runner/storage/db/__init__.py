"""SQLite access: opening, migrating, every statement (``queries.sql``), the readers."""
