"""jobs.yaml keys beyond the basics: auth, state_dir, an account's identity, bounds, key files."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest
from test_config import MINIMAL, account

from runner.config import account_identity, load_config
from runner.config.models import MAX_JOBS, default_state_dir
from runner.core.errors import ConfigError

SECRET = "s3cr3t-KEY/value=42"
ROOT = Path(__file__).resolve().parents[2]

ENV = {"XDG_STATE_HOME": "/xdg/state"}


def write(folder: Path, text: str) -> Path:
    path = folder / "jobs.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=ENV)
    message = str(caught.value)
    assert "\n" not in message and SECRET not in message
    return message


# ---------------------------------------------------------------- auth


def test_auth_defaults_to_basic(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL)).accounts["main"].auth == "basic"


@pytest.mark.parametrize(("written", "auth"), [("token", "token"), ("Token", "token"),
                                              ("BASIC", "basic")])  # fmt: skip
def test_auth_values(tmp_path: Path, written: str, auth: str) -> None:
    text = MINIMAL.replace("user_name: admin_user", f"user_name: admin_user\n    auth: {written}")
    assert load_config(write(tmp_path, text)).accounts["main"].auth == auth


@pytest.mark.parametrize("written", ["bearer", "yes", "1", "[token]"])
def test_an_unknown_auth_names_file_line_key_and_the_allowed_values(
    tmp_path: Path, written: str
) -> None:
    text = MINIMAL.replace("user_name: admin_user", f"user_name: admin_user\n    auth: {written}")
    message = error(write(tmp_path, text))
    assert message.startswith(f"{tmp_path / 'jobs.yaml'}:6: accounts.main.auth: ")
    assert "'basic' or 'token'" in message


# ---------------------------------------------------------------- identity


@pytest.mark.parametrize(
    "url",
    ["https://api.ccaas.ozonetel.com", "https://api.ccaas.ozonetel.com/",
     "HTTPS://API.CCaaS.Ozonetel.com", "https://api.ccaas.ozonetel.com:443"],
)  # fmt: skip
def test_one_server_and_user_is_one_identity_whatever_the_spelling(url: str) -> None:
    reference = account().identity
    assert account(name="other-name", base_url=url).identity == reference
    # Stored with jobs and naming the per-account lock: its recipe must not drift.
    recipe = b'["https://api.ccaas.ozonetel.com", "admin_user"]'  # JSON [server, user]
    assert reference == hashlib.sha256(recipe).hexdigest()


@pytest.mark.parametrize(
    "changes",
    [{"user_name": "admin_user2"}, {"user_name": "Admin_user"},
     {"base_url": "https://in1-ccaas-api.ozonetel.com"},
     {"base_url": "https://api.ccaas.ozonetel.com:8443"},
     {"base_url": "https://api.ccaas.ozonetel.com/Partner"},
     {"base_url": "http://localhost:8080"}],
)  # fmt: skip
def test_another_server_or_user_is_another_identity(changes: dict[str, str]) -> None:
    assert account(**changes).identity != account().identity


def test_identity_does_not_depend_on_key_source_rate_or_auth(tmp_path: Path) -> None:
    other = account(api_key_env=None, api_key_file=tmp_path / "k", rate_limit="5/s", auth="token")
    assert other.identity == account().identity


def test_identity_parts_cannot_run_into_each_other() -> None:
    assert account_identity("http://localhost/a", "b") != account_identity(
        "http://localhost", "a/b"
    )
    assert account_identity("http://[::1]:80", "u") == account_identity("http://[::1]", "u")


# ---------------------------------------------------------------- state_dir


def test_state_dir_is_relative_to_the_config_folder_and_not_created(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "state_dir: locks\n" + MINIMAL), environ=ENV)
    assert config.state_dir == tmp_path / "locks"
    assert not config.state_dir.exists()


def test_state_dir_defaults_to_xdg_state_home(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ=ENV)
    assert config.state_dir == Path("/xdg/state/runner")


@pytest.mark.parametrize("environ", [{}, {"XDG_STATE_HOME": ""}, {"XDG_STATE_HOME": "rel/x"}])
def test_state_dir_without_a_usable_xdg_is_in_the_home_folder(environ: dict[str, str]) -> None:
    home = Path("/home/op")
    assert default_state_dir(environ, home) == home / ".local" / "state" / "runner"


def test_state_dir_default_uses_the_real_home(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.state_dir == Path.home() / ".local" / "state" / "runner"


def test_state_dir_must_be_a_path(tmp_path: Path) -> None:
    message = error(write(tmp_path, "state_dir: [a]\n" + MINIMAL))
    assert ":1: state_dir: " in message


# ---------------------------------------------------------------- bounds


@pytest.mark.parametrize(
    ("line", "key"),
    [("    timeout_seconds: 3601", "accounts.main.timeout_seconds"),
     ("    rate_limit: 100000000000000000000000/s", "accounts.main.rate_limit"),
     ("    rate_limit: 1e23/s", "accounts.main.rate_limit")],
)  # fmt: skip
def test_absurd_account_values(tmp_path: Path, line: str, key: str) -> None:
    text = MINIMAL.replace("    user_name: admin_user", f"    user_name: admin_user\n{line}")
    assert f"jobs.yaml:6: {key}: " in error(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "key"),
    [("retry:\n  max_attempts: 1001\n", "retry.max_attempts"),
     ("retry:\n  backoff_max_seconds: 1e300\n", "retry.backoff_max_seconds")],
)  # fmt: skip
def test_absurd_retry_values(tmp_path: Path, text: str, key: str) -> None:
    assert f"jobs.yaml:2: {key}: " in error(write(tmp_path, text + MINIMAL))


def test_too_many_jobs(tmp_path: Path) -> None:
    jobs = "".join(f"  - {{name: j{i}, campaign: c, input: n.txt}}\n" for i in range(MAX_JOBS + 1))
    message = error(write(tmp_path, MINIMAL.split("  - name")[0] + jobs))
    assert message.endswith(f"jobs.yaml:6: jobs: {MAX_JOBS + 1:,} jobs; at most {MAX_JOBS:,} "
                            "fit in one file (split it)")  # fmt: skip


# ---------------------------------------------------------------- API keys


@pytest.mark.parametrize("bad", ["\x01", "\x7f", "é", "\u200b", "\x1b[31m"])
def test_a_key_with_a_control_or_non_ascii_character_is_refused_unshown(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("CLOUDAGENT_API_KEY", SECRET + bad + SECRET)
    with pytest.raises(ConfigError) as caught:
        account().api_key()
    message = str(caught.value)
    assert message == (
        "account 'main': environment variable CLOUDAGENT_API_KEY contains a control or "
        "non-ASCII character: an API key is printable ASCII without spaces"
    )


def test_every_printable_ascii_character_may_be_in_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "".join(chr(code) for code in range(0x21, 0x7F))
    monkeypatch.setenv("CLOUDAGENT_API_KEY", key)
    assert account().api_key() == key


def key_file_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        account(api_key_env=None, api_key_file=path).api_key()
    message = str(caught.value)
    assert "\n" not in message and SECRET not in message
    return message


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_as_key_file_is_refused_without_reading_it() -> None:
    message = key_file_error(Path("/dev/zero"))
    assert message == "account 'main': api_key_file /dev/zero is not a regular file"


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
def test_a_fifo_as_key_file_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    assert key_file_error(fifo).endswith("is not a regular file")


def test_a_key_file_larger_than_4096_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.txt"
    path.write_text(SECRET + "x" * (4096 - len(SECRET)), encoding="ascii")
    path.chmod(0o600)
    assert account(api_key_env=None, api_key_file=path).api_key().startswith(SECRET)
    path.write_text(SECRET + "x" * (4097 - len(SECRET)), encoding="ascii")
    assert key_file_error(path).endswith("is larger than 4096 bytes: it should hold only the key")


def test_a_key_file_with_a_control_character(tmp_path: Path) -> None:
    path = tmp_path / "key.txt"
    path.write_bytes(SECRET.encode() + b"\x00\n")
    path.chmod(0o600)
    assert "contains a control or non-ASCII character" in key_file_error(path)


# ---------------------------------------------------------------- the example


def test_the_example_config_loads_with_its_commented_keys_on(tmp_path: Path) -> None:
    example = (ROOT / "jobs.example.yaml").read_text(encoding="utf-8")
    assert load_config(write(tmp_path, example)).accounts["main"].auth == "basic"
    switched_on = example.replace("# state_dir: state", "state_dir: state").replace(
        "# auth: basic", "auth: token"
    )
    assert switched_on != example
    config = load_config(write(tmp_path, switched_on))
    assert config.state_dir == tmp_path / "state"
    assert config.accounts["main"].auth == "token"


def test_a_workers_config_may_have_no_jobs_and_others_may_not(tmp_path: Path) -> None:
    example = (ROOT / "examples" / "worker.yaml").read_text(encoding="utf-8")
    config = load_config(write(tmp_path, example), jobs_required=False)
    assert config.jobs == [] and config.state_dir == Path("/var/lib/runner/locks")
    with pytest.raises(ConfigError, match="at least one job"):
        load_config(write(tmp_path, example))
    without_the_key = example.replace("jobs: []\n", "")
    assert load_config(write(tmp_path, without_the_key), jobs_required=False).jobs == []
