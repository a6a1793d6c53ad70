"""What ``runner.core.logs.configure`` sets up: format, level, fields, tracebacks (issue 18).

Written against the survivors of ``make mutation`` in ``runner/core/logs.py``: each test
reads what reaches stderr (or the logging config) and fails when a line of
``configure`` is changed. The masking itself is tested in test_redaction.py.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from runner.core.logs import configure, get_logger
from runner.core.states import RecordState

ISO_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


@pytest.fixture
def err(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """What the logs wrote to stderr since the last call; JSON logs again afterwards."""
    yield lambda: capsys.readouterr().err
    configure("json")


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_lines_carry_level_timestamp_and_plain_values(err: Callable[[], str]) -> None:
    configure("console")  # so that a json configure must replace every processor
    assert configure("json", 0) == "json"
    err()
    get_logger(job="j1").info("record_settled", state=RecordState.DELETED)
    [line] = json_lines(err())
    assert line["event"] == "record_settled" and line["job"] == "j1"
    assert line["level"] == "info"
    assert line["state"] == "deleted"
    assert ISO_MS_UTC.match(line["timestamp"]), line["timestamp"]


def test_console_lines_are_readable_not_json(err: Callable[[], str]) -> None:
    assert configure("console", 0) == "console"
    get_logger().info("record_settled", state=RecordState.DELETED)
    [line] = err().splitlines()
    assert not line.startswith("{")
    assert "[info" in line and "record_settled" in line and "state=deleted" in line
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 ", line), line


def test_json_tracebacks_never_carry_local_variables(err: Callable[[], str]) -> None:
    configure("json")

    def fail(local_value: str) -> None:
        raise ValueError("boom")

    try:
        fail("a local value")
    except ValueError:
        get_logger().exception("request_failed")
    [line] = json_lines(err())
    frames = [frame for stack in line["exception"] for frame in stack["frames"]]
    assert any(frame["name"] == "fail" for frame in frames)
    assert all("locals" not in frame for frame in frames)
    assert "a local value" not in json.dumps(line)


@pytest.mark.parametrize(
    ("verbosity", "shown", "hidden"),
    [(-1, "warning", "info"), (0, "info", "debug"), (1, "debug", None), (2, "debug", None)],
)
def test_verbosity_sets_the_lowest_level_shown(
    err: Callable[[], str], verbosity: int, shown: str, hidden: str | None
) -> None:
    configure("json", verbosity)
    log = get_logger()
    getattr(log, shown)("shown")
    if hidden:
        getattr(log, hidden)("hidden")
    assert [line["event"] for line in json_lines(err())] == ["shown"]


def test_the_default_verbosity_hides_debug(err: Callable[[], str]) -> None:
    configure("json")
    get_logger().debug("hidden")
    get_logger().info("shown")
    assert [line["event"] for line in json_lines(err())] == ["shown"]


def test_aiosqlite_never_logs_its_parameters_even_in_debug(err: Callable[[], str]) -> None:
    aiosqlite = logging.getLogger("aiosqlite")
    aiosqlite.setLevel(logging.DEBUG)
    configure("json", 1)
    assert aiosqlite.level == logging.INFO


def test_auto_is_json_off_a_terminal(err: Callable[[], str]) -> None:
    assert configure() == "json"
    assert configure("auto") == "json"
    get_logger().info("piped")
    assert json_lines(err())[0]["event"] == "piped"


def test_auto_is_coloured_console_on_a_terminal(
    err: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert configure("auto") == "console"
    get_logger().info("on_a_terminal")
    out = err()
    assert "on_a_terminal" in out and "\x1b[" in out  # ANSI colours


def test_logs_go_to_stderr_in_a_fresh_process(capsys: pytest.CaptureFixture[str]) -> None:
    """structlog keeps what ``configure`` leaves out, and writes to stdout by default: the
    first configure of a process must name stderr itself."""
    structlog.reset_defaults()
    try:
        configure("json")
        get_logger().info("where")
        out = capsys.readouterr()
        assert out.out == ""
        assert json_lines(out.err)[0]["event"] == "where"
    finally:
        configure("json")
