"""Hostile input: fuzzed configs and a corpus of nasty real-world files.

Never a traceback; a message that names the file (and line); nothing valid lost.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml
from harness import KEY_ENV, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.config import load_config
from runner.errors import ConfigError

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
    content = bytes(range(256)) * 64 + b"\n9876543210\n"
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
