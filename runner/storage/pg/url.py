"""Which database a config names: a path (SQLite) or a ``postgresql://`` URL.

The URL never holds a password (it is refused: jobs.yaml is read by many and kept
in version control); libpq finds it where operators keep it. Everything else in the
URL (``sslmode`` and the other TLS settings, ``service``, ``connect_timeout``...)
goes to libpq unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SCHEMES: Final = ("postgresql://", "postgres://")
PASSWORD_REFUSED: Final = (
    "a PostgreSQL URL must not hold a password: put it in PGPASSWORD, ~/.pgpass, "
    "the file PGPASSFILE names, or a service file (PGSERVICEFILE), not in the config"
)
# user:secret@ in a URL; what error messages show instead of it.
_USERINFO: Final = re.compile(r"(//[^/@:?#]*):[^@/?#]*@")


@dataclass(frozen=True, slots=True)
class PgUrl:
    """A checked PostgreSQL URL; it holds no password, so printing it is safe."""

    url: str

    def __str__(self) -> str:
        return self.url


Database = Path | PgUrl


def is_postgres(value: object) -> bool:
    return isinstance(value, str | PgUrl) and str(value).lower().startswith(SCHEMES)


def redact(text: str) -> str:
    """``text`` with the password of any URL in it masked."""
    return _USERINFO.sub(r"\1:***@", text)


def password_problem(url: str) -> str | None:
    """Why ``url`` cannot be used (one line, naming no password), or None."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    if _USERINFO.search(url):
        return PASSWORD_REFUSED
    try:
        params = conninfo_to_dict(url)
    except ProgrammingError:
        return f"not a valid PostgreSQL URL: {redact(url)}"
    if params.get("password"):  # ?password=... in the query
        return PASSWORD_REFUSED
    return None


def parse(url: str) -> PgUrl:
    """A PgUrl; ValueError (one line) for a URL with a password or not a URL at all."""
    problem = password_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return PgUrl(url)
