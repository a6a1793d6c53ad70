"""Reading an account's API key from the environment or a key file, when a run needs it.

Every error names the variable or the file, never the value: a key must not reach
a terminal, a log or cron mail, even a broken one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from runner.core.errors import ConfigError

# A key is a few dozen characters; a bigger "key file" is the wrong file (or /dev/zero).
MAX_KEY_FILE_BYTES: Final = 4096
# What a header value may hold without quoting: printable ASCII, no space.
_KEY_CHARACTERS: Final = frozenset(chr(code) for code in range(0x21, 0x7F))


def read_api_key(
    account: str,
    env_name: str | None,
    key_file: Path | None,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """The key from ``environ[env_name]`` or from ``key_file`` (exactly one is given).

    Raises ConfigError naming the account and the source when the key is missing,
    empty, unreadable or holds characters no API key has.
    """
    if env_name is not None:
        source = f"account {account!r}: environment variable {env_name}"
        value = environ.get(env_name)
        if value is None:
            raise ConfigError(f"{source} is not set")
    elif key_file is not None:
        source = f"account {account!r}: api_key_file {key_file}"
        value = _read_key_file(key_file, source)
    else:
        raise ConfigError(f"account {account!r}: give exactly one of api_key_env or api_key_file")
    return checked_key(value.strip(), source)


def _read_key_file(path: Path, what: str) -> str:
    """The key file's text, read without following it into a device, pipe or huge file."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; no effect on a regular file.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ConfigError(f"{what} cannot be read: {exc.strerror or type(exc).__name__}") from None
    try:
        with os.fdopen(fd, "rb") as stream:
            info = os.fstat(stream.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"{what} is not a regular file")
            _refuse_shared(path, info.st_mode, what)
            data = stream.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{what} cannot be read: {exc.strerror or type(exc).__name__}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ConfigError(
            f"{what} is larger than {MAX_KEY_FILE_BYTES} bytes: it should hold only the key"
        )
    try:
        return data.decode("utf-8-sig")  # Windows editors add a BOM
    except UnicodeDecodeError:
        raise ConfigError(f"{what} is not UTF-8 text") from None


def _refuse_shared(path: Path, mode: int, what: str) -> None:
    """A key file others may read is a leaked key (ssh refuses such a private key too)."""
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{what} is readable or writable by group or others (mode {stat.S_IMODE(mode):04o}): "
            f"run chmod 600 {path}"
        )


def checked_key(key: str, what: str) -> str:
    """Refuse keys that cannot be a header value, without showing them."""
    if not key:
        raise ConfigError(f"{what} is empty")
    if any(char.isspace() for char in key):
        raise ConfigError(f"{what} contains whitespace inside the key")
    if not _KEY_CHARACTERS.issuperset(key):
        raise ConfigError(
            f"{what} contains a control or non-ASCII character: an API key is "
            "printable ASCII without spaces"
        )
    return key
