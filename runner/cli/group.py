"""The ``runner`` group and what every command shares: the config argument, the log
options, one-line errors. Imported by the command modules, importing none of them."""

from __future__ import annotations

import functools
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from runner import __version__
from runner.core.errors import ExitCode, RunnerError

F = TypeVar("F", bound=Callable[..., Any])
EXPORT_FORMATS = ("csv", "jsonl")  # runner.reports.writing.FORMATS; a test keeps the two equal

config_argument = click.argument(
    "config_path",
    metavar="[CONFIG]",
    required=False,
    default="jobs.yaml",
    type=click.Path(dir_okay=False, path_type=Path),
)


def log_options(command: F) -> F:
    """--log-format, -v, -q and --log-numbers, for the commands that log."""
    options = [
        click.option(
            "--log-format",
            type=click.Choice(["auto", "json", "console"]),
            default="auto",
            show_default=True,
            help="JSON lines off a terminal, readable lines on one (auto).",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Log every request."),
        click.option("-q", "--quiet", is_flag=True, help="Log warnings and errors only."),
        click.option(
            "--log-numbers",
            is_flag=True,
            help="Show phone numbers in logs in full (masked by default).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def reports_errors(command: F) -> F:
    """Turn a RunnerError into its one-line message and exit code: no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RunnerError as error:
            click.echo(f"runner: error: {error}", err=True)
            sys.exit(error.exit_code)
        except (OSError, sqlite3.Error) as error:
            # The environment failed us (a disk, a permission): say so in one line.
            click.echo(f"runner: error: {type(error).__name__}: {error}", err=True)
            sys.exit(ExitCode.FAILURES)

    return wrapper  # type: ignore[return-value]


class Commands(click.Group):
    """The group, with `sandbox` loaded only when asked for (it brings aiohttp's server)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "sandbox"])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "sandbox":
            from runner.sandbox import sandbox_command

            return sandbox_command
        return super().get_command(ctx, name)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runner")
def cli() -> None:
    """Delete phone numbers from CloudAgent campaigns, paced, resumable, recorded."""


def main() -> None:
    cli()
