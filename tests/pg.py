"""A real PostgreSQL for the tests: started by the suite itself, or an existing one.

``RUNNER_TEST_POSTGRES_URL`` (a superuser's URL, password from libpq's usual places)
points the tests at an existing server; without it, each pytest process (each xdist
worker) starts its own PostgreSQL 16 with ``pgserver`` in a temporary folder (it
works as root too: pgserver runs the server as its own system user). Every test gets
a fresh database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ENV: str = "RUNNER_TEST_POSTGRES_URL"


@contextmanager
def server() -> Iterator[str]:
    """The admin URL of a running server: RUNNER_TEST_POSTGRES_URL, or one started here.

    Its data folder is NOT under pytest's temporary folder: as root, pgserver runs the
    server as another system user, and every pytest process starting (another xdist
    worker, another run) takes the other users' access to /tmp/pytest-of-root away.
    """
    existing = os.environ.get(ENV)
    if existing:
        yield existing
        return
    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="runner-pg-"))
    started: Any = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield str(started.get_uri())
    finally:
        started.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead (the socket folder stays in the query)."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
    params.pop("dbname", None)
    password = params.pop("password", None)
    if password:  # the runner refuses a password in a URL: libpq takes it from here
        os.environ["PGPASSWORD"] = str(password)
    host = params.pop("host", None)
    user = params.pop("user", None)
    port = params.pop("port", None)
    query = "&".join(f"{key}={value}" for key, value in params.items())
    # A URL (not key=value): the runner accepts only postgresql:// in its config.
    netloc = f"{user or ''}@{'' if host and str(host).startswith('/') else host or ''}"
    netloc += f":{port}" if port else ""
    socket = f"&host={host}" if host and str(host).startswith("/") else ""
    tail = f"{query}{socket}".lstrip("&")
    return f"postgresql://{netloc}/{name}" + (f"?{tail}" if tail else "")


def admin(url: str, statement: sql.Composable | str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement if isinstance(statement, sql.Composable) else statement.encode())


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the server; its URL. Dropped afterwards."""
    name = f"runner_test_{uuid.uuid4().hex[:12]}"
    admin(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(admin_url, name)
    finally:
        admin(
            admin_url,
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
        )


def select_only_role(database_url: str) -> str:
    """A role that may only SELECT the runner's tables (README: the GRANTs); its URL."""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    statements = [
        sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(str(dbname)), sql.Identifier(role)
        ),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(role)),
    ]
    for statement in statements:
        admin(database_url, statement)
    user = psycopg.conninfo.conninfo_to_dict(database_url).get("user")
    return database_url.replace(f"//{user}@", f"//{role}@", 1)
