"""jobs.yaml: a full config, defaults, paths, every error as one located line, API keys."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from runner.config import (
    AccountConfig,
    Config,
    JobConfig,
    NotFoundGuard,
    RateLimit,
    RetryConfig,
    is_loopback,
    load_config,
    parse_rate_limit,
)
from runner.core.errors import ConfigError, ExitCode
from runner.core.rates import within_bounds
from runner.intake.numbers import PhoneFormat

# Not a valid environment variable name, so pasting it into api_key_env is an error.
SECRET = "s3cr3t-KEY/value=42"

ACCOUNT = """\
  main:
    base_url: https://in1-ccaas-api.ozonetel.com/
    api_key_env: CLOUDAGENT_API_KEY
    user_name: admin_user
    rate_limit: 50/min
    timeout_seconds: 12.5
"""
JOBS = """\
jobs:
  - name: dnc-2026-11-26
    account: main
    campaign: Outbound_Sales
    input: data/dnc.csv
    phone_column: phone
    name_column: name
  - name: nightly
    campaign: Outbound_Sales
    input: /srv/lists/nightly.txt
"""
# Line numbers matter: the error table below points into this text.
FULL = f"""\
database: state/runner.db
accounts:
{ACCOUNT}workers: 8
retry:
  max_attempts: 5
  backoff_initial_seconds: 1
  backoff_max_seconds: 60
{JOBS}"""
assert FULL.splitlines()[13] == "jobs:"  # line 14

MINIMAL = """\
accounts:
  main:
    base_url: https://api.ccaas.ozonetel.com
    api_key_env: CLOUDAGENT_API_KEY
    user_name: admin_user
jobs:
  - name: only
    campaign: Sales
    input: numbers.txt
"""


def write(folder: Path, text: str, name: str = "jobs.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def api_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real-looking key is always set, so every test can check it never leaks."""
    monkeypatch.setenv("CLOUDAGENT_API_KEY", SECRET)


# ---------------------------------------------------------------- valid configs


def test_full_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))

    assert config.path == tmp_path / "jobs.yaml"
    assert config.database == tmp_path / "state" / "runner.db"
    assert config.workers == 8
    assert config.retry == RetryConfig(
        max_attempts=5, backoff_initial_seconds=1, backoff_max_seconds=60
    )
    account = config.accounts["main"]
    assert account.name == "main"
    assert account.base_url == "https://in1-ccaas-api.ozonetel.com"  # trailing slash gone
    assert account.api_key_env == "CLOUDAGENT_API_KEY"
    assert account.api_key_file is None
    assert account.user_name == "admin_user"
    assert account.rate_limit == RateLimit(50, 60.0)
    assert account.timeout_seconds == 12.5
    first, second = config.jobs
    assert (first.name, first.account, first.campaign) == (
        "dnc-2026-11-26",
        "main",
        "Outbound_Sales",
    )
    assert first.input == tmp_path / "data" / "dnc.csv"
    assert (first.phone_column, first.name_column) == ("phone", "name")
    assert second.account == "main"  # filled in: there is one account
    assert second.input == Path("/srv/lists/nightly.txt")
    assert config.job("nightly") is second


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))

    assert config.database == tmp_path / "runner.db"
    assert config.workers == 4
    assert config.retry == RetryConfig(
        max_attempts=8, backoff_initial_seconds=2, backoff_max_seconds=300
    )
    account = config.accounts["main"]
    assert account.rate_limit == RateLimit(100, 60.0)
    assert account.timeout_seconds == 30
    job = config.job("only")
    assert (job.account, job.phone_column, job.name_column) == ("main", "phoneNumber", None)
    assert (job.phone_format, job.default_region) == (PhoneFormat.AS_IS, None)
    assert job.not_found_guard is None


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = MINIMAL.replace(
        "    api_key_env: CLOUDAGENT_API_KEY", "    api_key_file: ../secrets/key.txt"
    ).replace("input: numbers.txt", "input: ../shared/./numbers.txt")
    write(tmp_path / "conf", "database: db/runner.db\n" + text)
    monkeypatch.chdir(tmp_path)

    config = load_config(Path("conf/jobs.yaml"))

    assert config.path == tmp_path / "conf" / "jobs.yaml"
    assert config.path.is_absolute()
    assert config.database == tmp_path / "conf" / "db" / "runner.db"
    assert config.jobs[0].input == tmp_path / "shared" / "numbers.txt"
    assert config.accounts["main"].api_key_file == tmp_path / "secrets" / "key.txt"


def test_byte_order_marks_are_ignored(tmp_path: Path) -> None:
    """Notepad saves UTF-8 with a BOM; it must not end up in a key or break the YAML."""
    (tmp_path / "key.txt").write_bytes(b"\xef\xbb\xbf" + SECRET.encode() + b"\r\n")
    (tmp_path / "key.txt").chmod(0o600)
    text = MINIMAL.replace("api_key_env: CLOUDAGENT_API_KEY", "api_key_file: key.txt")
    path = tmp_path / "jobs.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_config(path).accounts["main"].api_key() == SECRET


def test_loopback_http_is_allowed(tmp_path: Path) -> None:
    text = MINIMAL.replace("https://api.ccaas.ozonetel.com", "http://127.0.0.1:8080/")
    assert load_config(write(tmp_path, text)).accounts["main"].base_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.9.0.1", True), ("localhost", True), ("::1", True),
     ("[::1]", True), ("0.0.0.0", False), ("10.0.0.1", False), ("example.com", False),
     ("::", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_unknown_job_is_a_config_error(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    with pytest.raises(ConfigError, match=r"no job named 'nope' \(jobs: dnc-2026-11-26, nightly\)"):
        config.job("nope")


# ---------------------------------------------------------------- errors


SECOND_ACCOUNT = """\
  backup:
    base_url: https://api.ccaas.ozonetel.com
    api_key_env: BACKUP_KEY
    user_name: other
"""

Edit = Callable[[str], str]


def sub(old: str, new: str) -> Edit:
    """An edit of FULL that must apply exactly once (so the table stays honest)."""

    def edit(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)

    return edit


# (id, edit of FULL, line, key path, words of the problem)
ERRORS: list[tuple[str, Edit, int, str, str]] = [
    ("bad rate limit", sub("50/min", "100 per min"), 7,
     "accounts.main.rate_limit", "'100 per min' is not N/s, N/min or N/h"),
    ("remote http", sub("https://in1", "http://in1"), 4,
     "accounts.main.base_url", "in clear"),
    ("not a url", sub("https://in1-ccaas-api.ozonetel.com/", "ftp://x"), 4,
     "accounts.main.base_url", "not an http(s) URL"),
    ("full endpoint as base url", sub(".com/", ".com/ca_apis/deleteCampaignData"), 4,
     "accounts.main.base_url", "leave out /ca_apis/deleteCampaignData"),
    ("missing key", sub("  - name: nightly\n    campaign: Outbound_Sales\n", "  - name: nightly\n"),
     21, "jobs[1].campaign", "required key is missing"),
    ("unknown key", sub("phone_column: phone", "phone_colum: phone"), 19,
     "jobs[0].phone_colum", "unknown key 'phone_colum'; did you mean 'phone_column'?"),
    ("api key in the file", sub("api_key_env: CLOUDAGENT_API_KEY", f"api_key: {SECRET}"), 5,
     "accounts.main.api_key", "never goes in this file"),
    ("key pasted into api_key_env",
     sub("api_key_env: CLOUDAGENT_API_KEY", f"api_key_env: {SECRET}"), 5,
     "accounts.main.api_key_env", "name of an environment variable"),
    ("both key sources", sub("    user_name:", "    api_key_file: key.txt\n    user_name:"), 6,
     "accounts.main.api_key_file", "exactly one of api_key_env or api_key_file"),
    ("no key source", sub("    api_key_env: CLOUDAGENT_API_KEY\n", ""), 3,
     "accounts.main", "exactly one of api_key_env or api_key_file"),
    ("empty user name", sub("user_name: admin_user", "user_name: ''"), 6,
     "accounts.main.user_name", "must not be empty"),
    ("number where text is expected", sub("user_name: admin_user", "user_name: 007"), 6,
     "accounts.main.user_name", "YAML read 7 as int; put the value in quotes"),
    ("zero timeout", sub("timeout_seconds: 12.5", "timeout_seconds: 0"), 8,
     "accounts.main.timeout_seconds", "greater than 0"),
    ("wrong type", sub("workers: 8", "workers: many"), 9, "workers", "valid integer (got 'many')"),
    ("too many workers", sub("workers: 8", "workers: 65"), 9, "workers", "64 (got 65)"),
    ("section not a mapping", sub("retry:\n  max_attempts: 5\n  backoff_initial_seconds: 1\n"
                                 "  backoff_max_seconds: 60\n", "retry: 5\n"), 10,
     "retry", "expected a mapping"),
    ("no attempts", sub("max_attempts: 5", "max_attempts: 0"), 11,
     "retry.max_attempts", "greater than or equal to 1"),
    ("backoff max below initial", sub("backoff_max_seconds: 60", "backoff_max_seconds: 0.5"), 13,
     "retry.backoff_max_seconds", "less than backoff_initial_seconds"),
    ("duplicate job name", sub("name: nightly", "name: dnc-2026-11-26"), 21,
     "jobs[1].name", "duplicate job name 'dnc-2026-11-26' (also jobs[0])"),
    ("job name with spaces", sub("name: nightly", "name: ' nightly'"), 21,
     "jobs[1].name", "spaces around it"),
    ("job name a date", sub("name: nightly", "name: 2026-11-26"), 21,
     "jobs[1].name", "YAML read 2026-11-26 as date"),
    ("unknown account", sub("account: main", "account: other"), 16,
     "jobs[0].account", "unknown account 'other' (accounts: main)"),
    ("account omitted among several", sub("workers: 8", SECOND_ACCOUNT + "workers: 8"), 25,
     "jobs[1].account", "required when there are several accounts (main, backup)"),
    ("empty campaign",
     sub("campaign: Outbound_Sales\n    input: data", "campaign: ''\n    input: data"), 17,
     "jobs[0].campaign", "must not be empty"),
    ("empty campaign list",
     sub("campaign: Outbound_Sales\n    input: data", "campaign: []\n    input: data"), 17,
     "jobs[0].campaign", "name at least one campaign"),
    ("campaign listed twice",
     sub("campaign: Outbound_Sales\n    input: data", "campaign: [A, B, A]\n    input: data"),
     17, "jobs[0].campaign", "'A' is listed twice"),
    ("empty campaign in a list",
     sub("campaign: Outbound_Sales\n    input: data", "campaign: [A, '']\n    input: data"), 17,
     "jobs[0].campaign", "must not be empty"),
    ("campaign a number",
     sub("campaign: Outbound_Sales\n    input: data", "campaign: [A, 7]\n    input: data"), 17,
     "jobs[0].campaign", "a campaign name or a list of them"),
    ("unsupported input", sub("data/dnc.csv", "data/dnc.xlsx"), 18,
     "jobs[0].input", "'dnc.xlsx' is not a .csv, .txt, .jsonl file"),
    ("duplicate yaml key", sub("workers: 8", "workers: 8\nworkers: 9"), 10,
     "workers", "given twice"),
    ("no jobs", sub(JOBS, "jobs:\n"), 14, "jobs", "at least one job is required"),
    ("jobs key missing", sub(JOBS, ""), 1, "jobs", "required key is missing"),
    ("no accounts", sub(ACCOUNT, ""), 2, "accounts", "at least one account is required"),
    ("account name key", sub("  main:\n", "  main:\n    name: other\n"), 4,
     "accounts.main.name", "differs from the account's key 'main'"),
    ("path key", lambda text: "path: /elsewhere.yaml\n" + text, 1, "path", "unknown key 'path'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "line", "key_path", "problem"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_errors_name_file_line_key_and_problem(
    tmp_path: Path, edit: Edit, line: int, key_path: str, problem: str
) -> None:
    assert_config_error(write(tmp_path, edit(FULL)), line, key_path, problem)


def assert_config_error(path: Path, line: int, key_path: str, problem: str) -> None:
    """Loading ``path`` fails with one safe ``file:line: key: problem`` line, exit 2."""
    with pytest.raises(ConfigError) as caught:
        load_config(path, today=TODAY)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: {key_path}: "), message
    assert problem in message
    assert_one_safe_line(message)
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ": the file is empty"),
        (
            "- a\n- b\n",
            ":1: the top level must be a mapping with 'accounts' and 'jobs', not a list",
        ),
        ("accounts: {}\njobs: [\n", ":3: invalid YAML: "),
        (FULL.replace("user_name: admin_user", "user_name: admin: user"), ":6: invalid YAML: "),
        (FULL.replace("workers: 8", "workers: !!python/name:os.system ''"), ":9: invalid YAML: "),
        (
            FULL.replace("workers: 8", "workers: 8\x1f"),
            ":9: invalid YAML: control character U+001F",
        ),
    ],
    ids=["empty", "not a mapping", "unclosed list", "bad mapping", "unsafe tag", "control char"],
)
def test_unreadable_yaml(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}{expected}"), str(caught.value)
    assert_one_safe_line(str(caught.value))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=r"absent\.yaml: no such file"):
        load_config(path)


def assert_one_safe_line(message: str) -> None:
    assert "\n" not in message
    assert SECRET not in message


# ---------------------------------------------------------------- job settings

TODAY = date(2027, 1, 5)  # not the day the tests run, so ignoring it fails
JOB_KEYS_LINE = 10  # the first line of the keys job_with adds


def job_with(keys: str) -> str:
    """MINIMAL with more keys for its job (written flush left), from line 10."""
    return MINIMAL + textwrap.indent(keys, "    ")


def only_job(tmp_path: Path, text: str) -> JobConfig:
    return load_config(write(tmp_path, text), today=TODAY).jobs[0]


@pytest.mark.parametrize(
    ("keys", "phone_format", "region"),
    [
        ("phone_format: as_is\n", PhoneFormat.AS_IS, None),
        ("phone_format: e164\ndefault_region: IN\n", PhoneFormat.E164, "IN"),
        ("phone_format: national\ndefault_region: GB\n", PhoneFormat.NATIONAL, "GB"),
        ("phone_format: E164\ndefault_region: in\n", PhoneFormat.E164, "IN"),  # any case
    ],
)
def test_phone_format(
    tmp_path: Path, keys: str, phone_format: PhoneFormat, region: str | None
) -> None:
    job = only_job(tmp_path, job_with(keys))
    assert (job.phone_format, job.default_region) == (phone_format, region)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("not_found_guard: false\n", None),
        ("not_found_guard:\n", None),
        ("not_found_guard: true\n", (200, 0.9)),
        ("not_found_guard: {}\n", (200, 0.9)),
        ("not_found_guard: {sample: 50}\n", (50, 0.9)),
        ("not_found_guard: {max_ratio: 0.5}\n", (200, 0.5)),
        ("not_found_guard:\n  sample: 1\n  max_ratio: 1\n", (1, 1.0)),
    ],
    ids=["false", "null", "true", "empty mapping", "sample", "max_ratio", "both"],
)
def test_not_found_guard(tmp_path: Path, keys: str, expected: tuple[int, float] | None) -> None:
    guard = only_job(tmp_path, job_with(keys)).not_found_guard
    if expected is None:
        assert guard is None
    else:
        assert isinstance(guard, NotFoundGuard)
        assert (guard.sample, guard.max_ratio) == expected


@pytest.mark.parametrize(
    ("name", "expanded"),
    [
        ("dnc-{date}", "dnc-2027-01-05"),
        ("dnc-{date:%Y%m%d}", "dnc-20270105"),
        ("'{date:%d.%m.%Y} nightly'", "05.01.2027 nightly"),
        ("dnc-{date}-{date:%j}", "dnc-2027-01-05-005"),
        ("dnc-{{x}}-{date}", "dnc-{x}-2027-01-05"),  # doubled braces are literal
        ("dnc", "dnc"),
    ],
)
def test_date_in_job_names(tmp_path: Path, name: str, expanded: str) -> None:
    config = load_config(
        write(tmp_path, MINIMAL.replace("name: only", f"name: {name}")), today=TODAY
    )
    assert config.jobs[0].name == expanded
    assert config.job(expanded) is config.jobs[0]  # the expanded name is the job's name


def test_date_defaults_to_the_local_date(tmp_path: Path) -> None:
    before = date.today()
    name = (
        load_config(write(tmp_path, MINIMAL.replace("name: only", "name: d-{date}"))).jobs[0].name
    )
    assert name in {f"d-{before.isoformat()}", f"d-{date.today().isoformat()}"}


def test_names_equal_once_expanded_are_duplicates(tmp_path: Path) -> None:
    text = sub("name: dnc-2026-11-26", "name: dnc-{date}")(FULL)
    text = sub("name: nightly", "name: dnc-2027-01-05")(text)
    assert_config_error(
        write(tmp_path, text), 21, "jobs[1].name", "duplicate job name 'dnc-2027-01-05'"
    )


# (id, jobs.yaml text, line, key path, words of the problem)
JOB_ERRORS: list[tuple[str, str, int, str, str]] = [
    ("format without region", job_with("phone_format: e164\n"), 7,
     "jobs[0].default_region", "required with phone_format e164"),
    ("region without format", job_with("default_region: IN\n"), 10,
     "jobs[0].default_region", "has no effect with phone_format as_is"),
    ("unknown format", job_with("phone_format: international\ndefault_region: IN\n"), 10,
     "jobs[0].phone_format", "'as_is', 'national' or 'e164' (got 'international')"),
    ("unknown region", job_with("phone_format: national\ndefault_region: XX\n"), 11,
     "jobs[0].default_region", "'XX' is not a region"),
    ("country name for region", job_with("phone_format: national\ndefault_region: India\n"), 11,
     "jobs[0].default_region", "'India' is not a region"),
    ("calling code for region", job_with("phone_format: e164\ndefault_region: '91'\n"), 11,
     "jobs[0].default_region", "ISO 3166 two-letter code"),
    ("Norway read as false", job_with("phone_format: e164\ndefault_region: NO\n"), 11,
     "jobs[0].default_region", "YAML read False as bool; put the value in quotes"),
    ("guard not a switch", job_with("not_found_guard: on please\n"), 10,
     "jobs[0].not_found_guard", "expected true, false or a mapping"),
    ("guard sample zero", job_with("not_found_guard: {sample: 0}\n"), 10,
     "jobs[0].not_found_guard.sample", "greater than or equal to 1"),
    ("guard sample fraction", job_with("not_found_guard:\n  sample: 2.5\n"), 11,
     "jobs[0].not_found_guard.sample", "valid integer"),
    ("guard ratio zero", job_with("not_found_guard:\n  sample: 10\n  max_ratio: 0\n"), 12,
     "jobs[0].not_found_guard.max_ratio", "greater than 0"),
    ("guard ratio above 1", job_with("not_found_guard:\n  max_ratio: 1.5\n"), 11,
     "jobs[0].not_found_guard.max_ratio", "less than or equal to 1"),
    ("guard ratio as text", job_with("not_found_guard:\n  max_ratio: '0.5'\n"), 11,
     "jobs[0].not_found_guard.max_ratio", "valid number"),
    ("guard key typo", job_with("not_found_guard: {sampel: 10}\n"), 10,
     "jobs[0].not_found_guard.sampel", "unknown key 'sampel'; did you mean 'sample'?"),
    ("unclosed brace", MINIMAL.replace("name: only", "name: dnc-{date"), 7,
     "jobs[0].name", "unbalanced { or }"),
    ("stray closing brace", MINIMAL.replace("name: only", "name: dnc-}"), 7,
     "jobs[0].name", "unbalanced { or }"),
    ("unknown placeholder", MINIMAL.replace("name: only", "name: dnc-{day}"), 7,
     "jobs[0].name", "unknown placeholder {day}"),
    ("empty placeholder", MINIMAL.replace("name: only", "name: dnc-{}"), 7,
     "jobs[0].name", "unknown placeholder {}"),
    ("conversion", MINIMAL.replace("name: only", "name: dnc-{date!r}"), 7,
     "jobs[0].name", "unknown placeholder {date!r}"),
    ("attribute", MINIMAL.replace("name: only", "name: dnc-{date.year}"), 7,
     "jobs[0].name", "unknown placeholder {date.year}"),
    ("format without % code", MINIMAL.replace("name: only", "name: dnc-{date:YYYYMMDD}"), 7,
     "jobs[0].name", "{date:YYYYMMDD} has no strftime % code"),
    ("placeholder first, unquoted", MINIMAL.replace("name: only", "name: {date}"), 7,
     "jobs[0].name", "as mapping; put the value in quotes"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "line", "key_path", "problem"),
    [case[1:] for case in JOB_ERRORS],
    ids=[case[0] for case in JOB_ERRORS],
)
def test_job_setting_errors(
    tmp_path: Path, text: str, line: int, key_path: str, problem: str
) -> None:
    assert_config_error(write(tmp_path, text), line, key_path, problem)


# ---------------------------------------------------------------- base_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://127.0.0.1", "http://127.0.0.1"),
        ("http://127.8.9.10:1234", "http://127.8.9.10:1234"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://partner.example.com/cloudagent/", "https://partner.example.com/cloudagent"),
    ],
)
def test_base_url_accepted(url: str, expected: str) -> None:
    assert account(base_url=url).base_url == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://10.0.0.1", "in clear"),
        ("http://localhost.example.com", "in clear"),
        ("http://128.0.0.1", "in clear"),
        ("in1-ccaas-api.ozonetel.com", "not an http(s) URL"),
        ("https://", "not an http(s) URL"),
        ("https://host/?a=b", "query"),
        ("https://user:hunter2@host", "must not contain a user name or password"),
        (f"https://user:{SECRET}@host", "port that is not a number"),
        ("https://host:99999", "port that is not a number"),
    ],
)
def test_base_url_rejected(url: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        account(base_url=url)
    assert problem in str(caught.value)
    message = caught.value.errors()[0]["msg"]
    assert SECRET not in message
    assert "hunter2" not in message


def account(**changes: object) -> AccountConfig:
    fields: dict[str, object] = {
        "name": "main",
        "base_url": "https://api.ccaas.ozonetel.com",
        "api_key_env": "CLOUDAGENT_API_KEY",
        "user_name": "admin_user",
    }
    return AccountConfig.model_validate(fields | changes)


# ---------------------------------------------------------------- API keys


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDAGENT_API_KEY", f"  {SECRET}\n")
    assert account().api_key() == SECRET


def test_api_key_from_file(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text(f"{SECRET}\n", encoding="utf-8")
    (tmp_path / "key.txt").chmod(0o600)
    text = MINIMAL.replace("api_key_env: CLOUDAGENT_API_KEY", "api_key_file: key.txt")
    config = load_config(write(tmp_path, text))
    assert config.accounts["main"].api_key() == SECRET


def test_load_config_does_not_read_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDAGENT_API_KEY")
    text = MINIMAL.replace("user_name", "api_key_file: missing.txt\n    user_name").replace(
        "    api_key_env: CLOUDAGENT_API_KEY\n", ""
    )
    load_config(write(tmp_path, text))  # status and load need no key
    load_config(write(tmp_path, MINIMAL))


@pytest.mark.parametrize(
    ("value", "problem"),
    [(None, "environment variable CLOUDAGENT_API_KEY is not set"),
     ("  \n", "environment variable CLOUDAGENT_API_KEY is empty"),
     (f"{SECRET} {SECRET}", "environment variable CLOUDAGENT_API_KEY contains whitespace")],
)  # fmt: skip
def test_api_key_errors_from_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, problem: str
) -> None:
    if value is None:
        monkeypatch.delenv("CLOUDAGENT_API_KEY")
    else:
        monkeypatch.setenv("CLOUDAGENT_API_KEY", value)
    with pytest.raises(ConfigError) as caught:
        account().api_key()
    assert str(caught.value).startswith(f"account 'main': {problem}")
    assert_one_safe_line(str(caught.value))


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "cannot be read"),
     (b"\n", "is empty"),
     (SECRET.encode() + b"\xff", "is not UTF-8 text"),
     (f"{SECRET}\n{SECRET}\n".encode(), "contains whitespace")],
)  # fmt: skip
def test_api_key_errors_from_file(tmp_path: Path, content: bytes | None, problem: str) -> None:
    key_file = tmp_path / "key.txt"
    if content is not None:
        key_file.write_bytes(content)
        key_file.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        account(api_key_env=None, api_key_file=key_file).api_key()
    message = str(caught.value)
    assert message.startswith(f"account 'main': api_key_file {key_file} ")
    assert problem in message
    assert_one_safe_line(message)


# ---------------------------------------------------------------- rate limits


@pytest.mark.parametrize(
    ("text", "count", "period", "canonical"),
    [
        ("100/min", 100, 60, "100/min"),
        ("5/s", 5, 1, "5/s"),
        ("5/sec", 5, 1, "5/s"),
        ("5/second", 5, 1, "5/s"),
        ("1/minute", 1, 60, "1/min"),
        ("10/h", 10, 3600, "10/h"),
        ("3600/hour", 3600, 3600, "3600/h"),
        (" 100 / MIN ", 100, 60, "100/min"),
        ("1/2s", 1, 2, "1/2s"),
        ("3/0.5s", 3, 0.5, "3/0.5s"),
        ("7/2min", 7, 120, "7/120s"),
    ],
)
def test_parse_rate_limit(text: str, count: int, period: float, canonical: str) -> None:
    limit = parse_rate_limit(text)
    assert limit == RateLimit(count, period)
    assert str(limit) == canonical


@pytest.mark.parametrize(
    "text", ["", "100", "100 per min", "/min", "100/", "100/fortnight", "1.5/s", "-1/s", "100/m"]
)
def test_parse_rate_limit_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not N/s, N/min or N/h"):
        parse_rate_limit(text)


@pytest.mark.parametrize("text", ["0/min", "5/0s", "5/0.0min"])
def test_parse_rate_limit_needs_a_positive_rate(text: str) -> None:
    with pytest.raises(ValueError, match="at least 1 request in a positive period"):
        parse_rate_limit(text)


@given(
    count=st.integers(1, 10**6),
    period=st.one_of(
        st.sampled_from([1.0, 60.0, 3600.0]),
        st.floats(0.001, 86_400, allow_nan=False, allow_infinity=False),
    ),
)
def test_rate_limit_text_round_trips(count: int, period: float) -> None:
    assume(within_bounds(count, period))
    limit = RateLimit(count, period)
    assert parse_rate_limit(str(limit)) == limit


def test_config_can_be_built_from_python_objects(tmp_path: Path) -> None:
    """Other modules' tests build configs directly; RateLimit objects are accepted."""
    config = Config.model_validate(
        {
            "path": tmp_path / "jobs.yaml",
            "accounts": {"a": {"base_url": "http://localhost:1", "api_key_env": "K",
                               "user_name": "u", "rate_limit": RateLimit(5, 1.0)}},
            "jobs": [{"name": "j", "campaign": "c", "input": tmp_path / "x.txt"}],
        }
    )  # fmt: skip
    assert config.accounts["a"].rate_limit == RateLimit(5, 1.0)
    assert config.jobs[0].account == "a"


def test_a_campaign_list_keeps_its_order(tmp_path: Path) -> None:
    text = FULL.replace("campaign: Outbound_Sales", "campaign: [Outbound_Sales, Renewals]")
    job = load_config(write(tmp_path, text), today=TODAY).jobs[0]
    assert job.campaigns == ("Outbound_Sales", "Renewals")
    one = FULL.replace("campaign: Outbound_Sales", "campaign: [Outbound_Sales]")
    assert load_config(write(tmp_path, one), today=TODAY).jobs[0].campaign == "Outbound_Sales"


def test_a_key_holding_a_line_break_is_named_on_one_line(tmp_path: Path) -> None:
    """Found by the hostile-config fuzz: `accounts: {"\\n": null}` once printed two lines."""
    path = tmp_path / "jobs.yaml"
    path.write_text('accounts: {"a\\nb": null}\njobs: []\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message and "a\\nb" in message and "jobs.yaml:1" in message


DATABASE_ENV = """\
database_env: DATABASE_URL
accounts:
  main: {base_url: "http://127.0.0.1:1", api_key_env: K, user_name: u}
jobs: []
"""


def test_database_env_reads_the_url_from_the_named_variable(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(DATABASE_ENV, encoding="utf-8")
    url = "postgresql://ops@db.example:5432/runner?sslmode=verify-full"
    config = load_config(path, environ={"DATABASE_URL": url}, jobs_required=False)
    assert str(config.database) == url
    local = load_config(path, environ={"DATABASE_URL": "q.db"}, jobs_required=False)
    assert local.database == tmp_path / "q.db"


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        (DATABASE_ENV, {}, "jobs.yaml:1: database_env: environment variable DATABASE_URL"),
        (DATABASE_ENV, {"DATABASE_URL": "  "}, "environment variable DATABASE_URL is not set"),
        ("database: x.db\n" + DATABASE_ENV, {"DATABASE_URL": "y.db"}, "not both"),
        (DATABASE_ENV, {"DATABASE_URL": "postgresql://ops:s3cret@db/runner"}, "hold a password"),
    ],
)
def test_database_env_errors_name_the_variable(
    tmp_path: Path, text: str, environ: dict[str, str], expected: str
) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ, jobs_required=False)
    assert expected in str(caught.value) and "s3cret" not in str(caught.value)
