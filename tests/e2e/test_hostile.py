"""Hostile input: fuzzed configs and a corpus of nasty real-world files.

Never a traceback; a message that names the file (and line); nothing valid lost.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from harness import KEY_ENV, Result, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.config import load_config
from runner.core.errors import ConfigError

resource: ModuleType | None
try:
    import resource
except ImportError:  # not on Windows: time is still bounded there
    resource = None

VALID = {
    "accounts": {"main": {"base_url": "http://127.0.0.1:1", "api_key_env": KEY_ENV,
                          "user_name": "u"}},
    "jobs": [{"name": "j", "campaign": "c", "input": "in.txt"}],
}  # fmt: skip

yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["100/min", "0/s", "http://x", "~", "{date}"]),
)  # fmt: skip
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)
known_keys = st.sampled_from(
    ["database", "accounts", "workers", "retry", "jobs", "base_url", "api_key_env",
     "api_key_file", "user_name", "rate_limit", "timeout_seconds", "name", "account",
     "campaign", "input", "phone_column", "name_column", "max_attempts"]
)  # fmt: skip


def mutate(config: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """The valid config with one value (at a path of known keys) replaced."""
    mutated = json.loads(json.dumps(config))
    node: Any = mutated
    for key in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(key, {})
        elif isinstance(node, list) and node:
            node = node[0]
    if isinstance(node, dict):
        node[path[-1]] = value
    return mutated


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=300))
def test_any_text_as_config_gives_a_config_or_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as error:
        assert str(error).startswith(str(path)) or "jobs.yaml" in str(error)
        assert "\n" not in str(error)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.lists(known_keys, min_size=1, max_size=3), value=yaml_values)
def test_a_valid_config_with_one_value_broken(tmp_path: Path, path: list[str], value: Any) -> None:
    config_path = tmp_path / "jobs.yaml"
    config_path.write_text(yaml.safe_dump(mutate(VALID, path, value)), encoding="utf-8")
    try:
        load_config(config_path)
    except ConfigError as error:
        message = str(error)
        assert "jobs.yaml" in message and "\n" not in message


# -- a corpus of nasty input files, through the real CLI ------------------------------


def project(tmp_path: Path, input_name: str, content: bytes, **job: Any) -> Path:
    (tmp_path / input_name).write_bytes(content)
    config = json.loads(json.dumps(VALID))
    config["jobs"][0].update({"input": input_name, **job})
    (tmp_path / "jobs.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def loaded(tmp_path: Path) -> dict[str, int]:
    result = run_cli("load", cwd=tmp_path)
    assert result.code == 0, result.stderr
    status = run_cli("status", "--json", cwd=tmp_path)
    return dict(json.loads(status.stdout)["jobs"][0])


def invalid_rows(tmp_path: Path) -> list[dict[str, str]]:
    result = run_cli("export", "--state", "invalid", cwd=tmp_path)
    assert result.code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_latin1_csv(tmp_path: Path) -> None:
    content = "phoneNumber,name\r\n9876543210,José Müller\r\n9876543211,Zoë\r\n".encode("latin-1")
    job = loaded(project(tmp_path, "in.csv", content, name_column="name"))
    assert job["pending"] == 2 and job["invalid"] == 0


def test_utf16_csv_from_excel(tmp_path: Path) -> None:
    content = "phoneNumber,name\r\n9876543210,Ana\r\n+91 98765 43211,Bo\r\n".encode("utf-16")
    job = loaded(project(tmp_path, "in.csv", content))
    assert job["pending"] == 2


def test_a_50_mb_single_line(tmp_path: Path) -> None:
    content = b"phoneNumber\n9876543210\n" + b"9" * (50 * 1024 * 1024) + b"\n9876543211\n"
    job = loaded(project(tmp_path, "in.csv", content))
    assert job["pending"] == 2 and job["invalid"] == 1
    (bad,) = invalid_rows(tmp_path)
    assert bad["line"] == "3" and bad["reason"].startswith("line_too_long")


def test_binary_data(tmp_path: Path) -> None:
    content = bytes(range(1, 256)) * 64 + b"\n9876543210\n"  # any byte but NUL
    job = loaded(project(tmp_path, "in.txt", content))
    assert job["pending"] == 1
    assert job["invalid"] >= 1
    assert all(row["line"] and row["reason"] for row in invalid_rows(tmp_path))


def test_header_only(tmp_path: Path) -> None:
    job = loaded(project(tmp_path, "in.csv", b"phoneNumber,name\n"))
    assert job["total"] == 0


def test_a_missing_column_in_some_rows(tmp_path: Path) -> None:
    content = b"name,phoneNumber\nA,9876543210\nB\nC,9876543212\n"
    job = loaded(project(tmp_path, "in.csv", content))
    assert job["pending"] == 2
    (bad,) = invalid_rows(tmp_path)
    assert bad["line"] == "3" and bad["reason"].startswith("missing_field")


def test_excel_scientific_notation(tmp_path: Path) -> None:
    content = b'phoneNumber\n9.18E+11\n9876543210\n"9,18E+11"\n'
    job = loaded(project(tmp_path, "in.csv", content))
    assert job["pending"] == 1
    reasons = {row["line"]: row["reason"] for row in invalid_rows(tmp_path)}
    assert set(reasons) == {"2", "4"}
    assert all(reason.startswith("scientific_notation") for reason in reasons.values())


def test_json_integers_and_floats(tmp_path: Path) -> None:
    content = (
        b'{"phoneNumber": 9876543210}\n'
        b'{"phoneNumber": 9.87654321e9}\n'
        b'{"phoneNumber": "98765 43212"}\n'
    )
    job = loaded(project(tmp_path, "in.jsonl", content))
    assert job["pending"] == 2
    (bad,) = invalid_rows(tmp_path)
    assert bad["line"] == "2"


def test_a_missing_phone_column_names_the_file_and_line(tmp_path: Path) -> None:
    project(tmp_path, "in.csv", b"number,name\n9876543210,A\n")
    result = run_cli("load", cwd=tmp_path)
    assert result.code == 2
    assert "in.csv:1" in result.stderr and "phoneNumber" in result.stderr


def test_a_missing_input_file_exits_2_before_anything(tmp_path: Path) -> None:
    project(tmp_path, "in.csv", b"phoneNumber\n1234567\n")
    (tmp_path / "in.csv").unlink()
    result = run_cli("run", cwd=tmp_path)
    assert result.code == 2
    assert "in.csv" in result.stderr
    assert not (tmp_path / "runner.db").exists()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [("data.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(200),
      "not a text file (it looks like an Excel workbook: save it as CSV)"),
     ("data.txt", b"9876543210\n\x00\x00\x00\n", "not a text file (it has a NUL byte")],
)  # fmt: skip
def test_a_file_that_is_not_text(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    project(tmp_path, name, content)
    result = run_cli("load", cwd=tmp_path)
    assert result.code == 2
    (line,) = result.stderr.splitlines()
    assert f"{name}: {problem}" in line
    assert "\x00" not in result.stderr and "\ufffd" not in result.stderr


def test_a_job_with_no_valid_row_exits_2_before_anything(tmp_path: Path) -> None:
    project(tmp_path, "in.csv", b"phoneNumber\nabc\n12\n")
    for command in ("load", "run"):
        result = run_cli(command, cwd=tmp_path)
        assert result.code == 2
        (line,) = result.stderr.splitlines()
        assert "in.csv: job 'j': none of its 2 rows is valid (line 2: not_a_number" in line
        assert "line 3: too_short" in line
    assert not (tmp_path / "runner.db").exists()


# -- hostile configs: one line, exit 2, bounded time and memory ----------------------

MEMORY_LIMIT = 512 * 1024 * 1024  # a "billion laughs" once took 1.6 GB and 68 s


def run_bounded(*args: str, cwd: Path, api_key: str = "", timeout: float = 60) -> Result:
    """``python -m runner ARGS`` with its address space capped (where the OS allows)."""

    def cap_memory() -> None:
        if resource is not None:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    done = subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd,
        env={**os.environ, KEY_ENV: api_key},
        capture_output=True,
        text=True,
        timeout=timeout,  # subprocess.TimeoutExpired fails the test
        check=False,
        preexec_fn=cap_memory if resource is not None else None,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def assert_one_line_exit_2(result: Result, *hidden: str) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("runner: error: ")
    for secret in hidden:
        assert secret not in result.stderr and secret not in result.stdout
    return line


LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
ACCOUNTS = (
    "accounts:\n  main:\n    base_url: http://127.0.0.1:1\n"
    f"    api_key_env: {KEY_ENV}\n    user_name: u\n"
)
JOB = "jobs:\n  - {name: j, campaign: c, input: in.csv}\n"
HOSTILE_CONFIGS = {
    "billion laughs": 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    + LAUGHS
    + "accounts: *i\n"
    + JOB,
    "laughs in a job": ACCOUNTS
    + 'x: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    + LAUGHS
    + "jobs: [*i]\n",
    "recursive alias": ACCOUNTS + "jobs: &j [*j]\n",
    "deep nesting": ACCOUNTS + "jobs: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "700,000 jobs": ACCOUNTS + "jobs:\n" + "  - {name: j, campaign: c, input: in.csv}\n" * 700_000,
    "rate 1e23/s": ACCOUNTS + "    rate_limit: 1e23/s\n" + JOB,
    "rate 10^23/s": ACCOUNTS + "    rate_limit: 100000000000000000000000/s\n" + JOB,
    "a 5000-digit number": ACCOUNTS + f"workers: {'9' * 5000}\n" + JOB,
    "a 900 KB value": ACCOUNTS + f"    rate_limit: {'9' * 900_000}\n" + JOB,
    "a 900 KB key": ACCOUNTS + f"    {'k' * 900_000}: 1\n" + JOB,
    "half a character": ACCOUNTS + 'jobs:\n  - {name: "\\ud800", campaign: c, input: in.csv}\n',
}


@pytest.mark.parametrize("text", HOSTILE_CONFIGS.values(), ids=HOSTILE_CONFIGS.keys())
def test_a_hostile_config(tmp_path: Path, text: str) -> None:
    (tmp_path / "in.csv").write_text("phoneNumber\n9876543210\n", encoding="utf-8")
    (tmp_path / "jobs.yaml").write_text(text, encoding="utf-8")
    line = assert_one_line_exit_2(run_bounded("load", cwd=tmp_path))
    assert "jobs.yaml" in line and len(line) < 400


def test_dev_zero_as_the_config(tmp_path: Path) -> None:
    line = assert_one_line_exit_2(run_bounded("load", "/dev/zero", cwd=tmp_path))
    assert line == (
        "runner: error: /dev/zero: larger than 1 MiB; a jobs.yaml is a few kilobytes "
        "(is this the right file?)"
    )


SECRET = "s3cr3t-KEY-value"


@pytest.mark.parametrize(
    ("key_line", "key", "problem"),
    [(f"api_key_env: {KEY_ENV}", f"{SECRET}\x01{SECRET}", "contains a control or non-ASCII"),
     (f"api_key_env: {KEY_ENV}", f"{SECRET}\x1b[2J", "contains a control or non-ASCII"),
     ("api_key_file: /dev/zero", "", "api_key_file /dev/zero is not a regular file"),
     ("api_key_file: big.key", "", "is larger than 4096 bytes"),
     ("api_key_file: ctrl.key", "", "contains a control or non-ASCII")],
)  # fmt: skip
def test_a_hostile_api_key_stops_the_run_unshown(
    tmp_path: Path, key_line: str, key: str, problem: str
) -> None:
    project(tmp_path, "in.csv", b"phoneNumber\n9876543210\n")
    (tmp_path / "big.key").write_text(SECRET * 1000, encoding="ascii")
    (tmp_path / "ctrl.key").write_bytes(SECRET.encode() + b"\x07" + SECRET.encode())
    for name in ("big.key", "ctrl.key"):
        (tmp_path / name).chmod(0o600)
    config = (tmp_path / "jobs.yaml").read_text(encoding="utf-8")
    (tmp_path / "jobs.yaml").write_text(config.replace(f"api_key_env: {KEY_ENV}", key_line))
    line = assert_one_line_exit_2(run_bounded("run", cwd=tmp_path, api_key=key), SECRET)
    assert problem in line
    assert not (tmp_path / "runner.db").exists()


# -- fuzzing YAML documents, aliases included ------------------------------------------

FUZZ_KEYS = ["accounts", "jobs", "main", "base_url", "api_key_env", "user_name", "rate_limit",
             "timeout_seconds", "auth", "state_dir", "name", "campaign", "input", "workers",
             "retry", "max_attempts", "not_found_guard", "database", "<<", "path"]  # fmt: skip
FUZZ_SCALARS = st.one_of(
    st.none(), st.booleans(), st.floats(),
    st.integers(-(10**30), 10**30),
    st.builds("{}/{}{}".format, st.integers(0, 10**30), st.sampled_from(["", "0", "0.5", "1e9"]),
              st.sampled_from(["s", "min", "h", "d"])),
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["http://127.0.0.1:1", "https://[::1", "basic", "token", "in.csv", "K",
                     "/dev/zero", "2024-13-45", "!!binary x", "1e400", "{date:%Y}"]),
)  # fmt: skip


VALID_FLOW = {
    "B": '"http://127.0.0.1:1"', "K": KEY_ENV, "U": "u", "R": "100/min", "A": "basic",
    "T": "30", "N": "j", "C": "c", "I": "in.csv", "W": "4", "S": "state",
}  # fmt: skip
TEMPLATE = (
    "accounts: {main: {base_url: B, api_key_env: K, user_name: U, rate_limit: R, auth: A, "
    "timeout_seconds: T}}\njobs: [{name: N, campaign: C, input: I}]\nworkers: W\nstate_dir: S\n"
)


@st.composite
def yaml_documents(draw: st.DrawFn) -> str:
    """Flow-style YAML with anchors and aliases anywhere (recursive ones included): either
    a valid config with some values replaced, or any mapping of known keys."""
    anchors: list[str] = []
    counter = itertools.count()

    def node(depth: int) -> str:
        kinds = ["scalar", "alias", "list", "map"] if depth < 5 else ["scalar", "alias"]
        kind = draw(st.sampled_from(kinds))
        if kind == "alias" and anchors:
            return "*" + draw(st.sampled_from(anchors))
        name = f"a{next(counter)}" if draw(st.integers(0, 3)) == 0 else None
        if name is not None and draw(st.integers(0, 9)) == 0:
            anchors.append(name)  # visible to its own children: a recursive alias
        if kind == "list":
            text = "[" + ", ".join(node(depth + 1) for _ in range(draw(st.integers(0, 9)))) + "]"
        elif kind == "map":
            keys = draw(st.lists(st.sampled_from(FUZZ_KEYS), max_size=5))
            text = "{" + ", ".join(f"{key}: {node(depth + 1)}" for key in keys) + "}"
        else:
            # JSON is YAML, escapes and all (not \\u escapes of astral characters: PyYAML
            # reads each half of a surrogate pair alone, which the loader refuses).
            text = json.dumps(draw(FUZZ_SCALARS), ensure_ascii=False)
        if name is not None and name not in anchors:
            anchors.append(name)
        return text if name is None else f"&{name} {text}"

    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(FUZZ_KEYS)))
        return "\n".join(f"{key}: {node(1)}" for key in keys)
    # Sometimes a "billion laughs" of random width and depth the values may refer to.
    width, depth = draw(st.integers(2, 12)), draw(st.integers(0, 10))
    laughs = [f"l0: &l0 {json.dumps(draw(FUZZ_SCALARS), ensure_ascii=False)}"] + [
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth + 1)
    ]
    anchors.extend(f"l{i}" for i in range(depth + 1))
    text = "\n".join(laughs) + "\n" + TEMPLATE
    for placeholder, valid in VALID_FLOW.items():  # in template order: anchors come first
        value = node(2) if draw(st.integers(0, 3)) == 0 else valid
        text = (
            text.replace(f": {placeholder}}}", f": {value}}}", 1)
            .replace(f": {placeholder},", f": {value},", 1)
            .replace(f": {placeholder}\n", f": {value}\n", 1)
        )
    return text


@settings(
    max_examples=300,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=yaml_documents())
def test_fuzzed_yaml_gives_a_config_or_one_config_error_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as error:
        message = str(error)
        assert message.startswith(str(path)) and "\n" not in message
        assert len(message) < 1000
        message.encode("utf-8")  # printable on a terminal
