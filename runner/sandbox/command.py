"""``runner sandbox``: the command line of the simulator."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import click

from runner.config.accounts import is_loopback
from runner.core.rates import parse_rate_limit
from runner.sandbox.answers import BodyEncoding, ForcedAnswer, load_answers
from runner.sandbox.presence import load_numbers
from runner.sandbox.server import start_sandbox
from runner.sandbox.settings import AuthMode, SandboxSettings, TokenHeaders


class BadFile(click.ClickException):
    """A file option that cannot be used: one line naming file and key, exit 2."""

    exit_code = 2


def _rate_limit_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[int, float] | None:
    if value is None:
        return None
    try:
        limit = parse_rate_limit(value)  # the notation of jobs.yaml, so it can be pasted
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return limit.count, limit.period_seconds


def _file_option(load: Callable[[Path], object]) -> Callable[..., Path | None]:
    """A callback that reads the file once at start, so a bad one fails before serving."""

    def check(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
        if value is not None:
            try:
                load(value)
            except (OSError, ValueError) as exc:
                raise BadFile(f"{param.opts[0]} {exc}") from None
        return value

    return check


def _redirect_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _serve(settings: SandboxSettings) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly."""
    runner, port = await start_sandbox(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        click.echo(f"sandbox listening on {_url(settings.host, port)}")
        sys.stdout.flush()
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()


_RATE = click.FloatRange(0.0, 1.0)
_COUNT = click.IntRange(min=0)


def _choice(enum: type[StrEnum]) -> click.Choice[str]:
    return click.Choice([member.value for member in enum])


# (option names, click settings): shown in --help in this order; a default is shown too.
_OPTIONS: Final[list[tuple[tuple[str, ...], dict[str, Any]]]] = [
    (("--host",), {"default": "127.0.0.1", "help": "Address to bind."}),
    (("--port",), {"default": 8080, "type": click.IntRange(0, 65535),
                   "help": "Port to bind; 0 picks a free one."}),
    (("--allow-remote",), {"is_flag": True, "help": "Allow binding a non-loopback --host."}),
    (("--api-key",), {"default": "sandbox-key", "help": "The valid apiKey."}),
    (("--user-name",), {"default": "sandbox", "help": "The valid userName."}),
    (("--users",), {"default": 1, "type": click.IntRange(min=1),
     "help": "Accounts served: N > 1 adds userName <user>-2 ... <user>-N, each with its own "
     "apiKey <key>-2 ... <key>-N and so its own rate window (--auth basic only)."}),
    (("--campaign", "campaigns"), {"multiple": True,
     "help": "A valid campaign (repeatable); none given: every campaign is valid."}),
    (("--numbers", "numbers_file"), {"callback": _file_option(load_numbers),
     "type": click.Path(exists=True, dir_okay=False, path_type=Path),
     "help": "File of existing numbers: 'number' or 'campaign,number' per line."}),
    (("--present-ratio",), {"default": 1.0, "type": _RATE,
     "help": "Fraction of numbers that exist (ignored with --numbers)."}),
    (("--rate-limit",), {"callback": _rate_limit_option,
     "help": "Sliding-window limit per API key: N/s, N/min, N/h. Default: none."}),
    (("--error-rate",), {"default": 0.0, "type": _RATE,
                         "help": "Probability of an injected HTTP 5xx."}),
    (("--latency-ms",), {"default": 0, "type": _COUNT,
                         "help": "Delay added to every admitted request."}),
    (("--latency-jitter-ms",), {"default": 0, "type": _COUNT,
                                "help": "Extra uniform random delay, 0..N ms."}),
    (("--hang-rate",), {"default": 0.0, "type": _RATE,
     "help": "Probability that a request never answers (a client timeout)."}),
    (("--seed",), {"default": 0, "type": int, "help": "Seed for fault injection."}),
    (("--body-encoding",), {"default": BodyEncoding.PLAIN.value, "type": _choice(BodyEncoding),
     "help": "JSON answers as is, as a JSON string holding the object, or after a UTF-8 BOM."}),
    (("--answer",), {"type": _choice(ForcedAnswer), "metavar": "NAME",
     "help": "Give this answer to every valid delete instead of deleting it: "
     + ", ".join(ForcedAnswer) + "."}),
    (("--answer-from",), {"default": 1, "type": click.IntRange(min=1),
     "help": "--answer only from the Nth valid delete on (1-based); earlier ones are processed."}),
    (("--redirect-to",), {"callback": _redirect_option,
     "help": "Base URL of the Location of '--answer redirect' (the request's path is appended)."}),
    (("--answers", "answers_file"), {"callback": _file_option(load_answers),
     "type": click.Path(dir_okay=False, path_type=Path),
     "help": 'JSON file: phone number -> {"status": 200, "body": "...", "headers": {...}}.'}),
    (("--auth",), {"default": AuthMode.BASIC.value, "type": _choice(AuthMode),
     "help": "basic: apiKey header (BASIC_AUTH); token: bearer tokens (TOKEN_AUTH)."}),
    (("--token-ttl",), {"default": 3600.0, "type": click.FloatRange(min=0.0, min_open=True),
     "help": "Seconds a generated token stays valid (--auth token)."}),
    (("--token-budget",), {"default": 10, "type": click.IntRange(min=1),
     "help": "Tokens that may be generated per rolling hour; then HTTP 429 (--auth token)."}),
    (("--deleted-count",), {"type": click.IntRange(min=0), "default": None,
     "help": "A deleted number answers 'N Records Deleted Successfully' (the older API's "
     "success) instead of 'Deleted Successfully'."}),
    (("--token-headers",), {"default": TokenHeaders.EITHER.value, "type": _choice(TokenHeaders),
     "help": "--auth token: either: the bearer, apiKey beside it or not; both: bearer and a "
     "valid apiKey required; bearer: an apiKey beside the bearer gets 'Invalid action.'"}),
]  # fmt: skip

Command = Callable[..., None]


def _with_options(command: Command) -> Command:
    for names, settings in reversed(_OPTIONS):
        command = click.option(*names, show_default="default" in settings, **settings)(command)
    return command


@click.command("sandbox")
@_with_options
def sandbox_command(allow_remote: bool, **options: Any) -> None:
    """Serve a local CloudAgent deleteCampaignData simulator."""
    host, port = options["host"], options["port"]
    if not allow_remote and not is_loopback(host):
        raise click.BadParameter(
            f"{host!r} is not a loopback address; add --allow-remote to bind it anyway",
            param_hint="--host",
        )
    if options["error_rate"] + options["hang_rate"] > 1.0:
        raise click.UsageError("--error-rate plus --hang-rate must not exceed 1")
    if not options["api_key"].strip() or not options["user_name"].strip():
        raise click.UsageError("--api-key and --user-name must not be empty")
    if options["users"] > 1 and options["auth"] != AuthMode.BASIC:
        raise click.UsageError("--users N plays N basic-auth accounts: not with --auth token")
    if options["answer"] == ForcedAnswer.REDIRECT and options["redirect_to"] is None:
        raise click.UsageError("--answer redirect needs --redirect-to URL")
    answer = options.pop("answer")
    settings = SandboxSettings(
        campaigns=frozenset(options.pop("campaigns")),
        body_encoding=BodyEncoding(options.pop("body_encoding")),
        answer=ForcedAnswer(answer) if answer is not None else None,
        auth=AuthMode(options.pop("auth")),
        token_headers=TokenHeaders(options.pop("token_headers")),
        **options,
    )
    try:
        asyncio.run(_serve(settings))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {_url(host, port)}: {exc}") from None
