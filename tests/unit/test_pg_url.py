"""A PostgreSQL URL in the config: accepted without a password, refused with one."""

from __future__ import annotations

import pytest

from runner.storage.db.queries import PQ, Q
from runner.storage.pg.url import PASSWORD_REFUSED, PgUrl, is_postgres, parse, redact

# Statements only SQLite needs (connection set-up) or that PostgreSQL does another way.
SQLITE_ONLY = {
    "busy_timeout", "writer_busy_timeout", "journal_wal", "synchronous_normal",
    "foreign_keys_on", "foreign_keys_off", "begin_immediate", "commit", "rollback",
    "insert_invalid_record", "load_cache_size", "default_cache_size", "load_temp_store",
    "default_temp_store", "load_no_autocheckpoint", "default_autocheckpoint", "checkpoint",
    "checkpoint_truncate",
}  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://runner@db.example:5432/queue",
        "postgres://runner@db.example/queue?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        "postgresql:///queue?service=runner",
        "postgresql://runner@/queue?host=/var/run/postgresql",
    ],
)
def test_a_url_without_a_password_is_kept_as_written(url: str) -> None:
    assert is_postgres(url)
    assert parse(url) == PgUrl(url)
    assert str(parse(url)) == url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://runner:s3cret@db.example:5432/queue",
        "postgres://runner:s3cret@db.example/queue",
        "postgresql://db.example/queue?password=s3cret",
        "postgresql://runner@db.example/queue?sslmode=require&password=s3cret",
    ],
)
def test_a_url_with_a_password_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse(url)
    assert str(refused.value) == PASSWORD_REFUSED
    for place in ("PGPASSWORD", "~/.pgpass", "PGPASSFILE", "service file"):
        assert place in PASSWORD_REFUSED
    assert "s3cret" not in str(refused.value)


def test_paths_are_not_urls() -> None:
    assert not is_postgres("runner.db")
    assert not is_postgres("/var/lib/postgresql.db")


def test_redact_masks_a_password_in_any_url() -> None:
    text = "cannot connect to postgresql://runner:s3cret@db.example/queue: refused"
    assert redact(text) == "cannot connect to postgresql://runner:***@db.example/queue: refused"


def test_both_query_files_name_the_same_statements() -> None:
    """queries_postgresql.sql is the twin of queries.sql: same names, same purposes."""
    missing = set(Q.names()) - set(PQ.names()) - SQLITE_ONLY
    assert missing == set()
    pg_only = set(PQ.names()) - set(Q.names())
    assert pg_only == {
        "schema_table", "create_schema_table", "migration_lock", "read_only",
        "create_load_rows", "copy_load_rows", "lock_keepalives", "try_account_lock",
        "account_unlock", "lock_alive", "account_lock_holder", "sender_of", "terminate_backend",
        "clear_account_stop",
    }  # fmt: skip


def test_every_sqlite_migration_has_a_postgresql_twin_of_the_same_number() -> None:
    from runner.storage.db.connection import migrations_dir, read_migrations
    from runner.storage.pg.connection import pg_migrations

    sqlite = sorted(p.name for p in migrations_dir().glob("[0-9]*.sql"))
    postgresql = sorted(p.name for p in (migrations_dir() / "postgresql").glob("[0-9]*.sql"))
    assert postgresql == sqlite
    assert [v for v, _ in pg_migrations()] == [v for v, _ in read_migrations(migrations_dir())]
