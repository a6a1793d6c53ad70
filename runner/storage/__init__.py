"""The queue: its interface (queue, counts), SQLite (store, db/), PostgreSQL
(pg/), the choice between them (backend), and the locks that say who holds a database.

Imports runner.core and runner.intake (the rows a load writes)."""
