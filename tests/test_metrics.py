"""Tests of runner.metrics: the exact text, its escaping, its syntax, and the atomic write."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import pytest

from runner import status
from runner.inputs import InvalidRow, Row
from runner.metrics import escape_label_value, format_value, render, write_textfile
from runner.store import Settlement, Store


def job(name: str, account: str, campaign: str, **fields: Any) -> dict[str, Any]:
    """A job of a status report: zero counts and unknown rate unless given."""
    base: dict[str, Any] = {
        "name": name,
        "account": account,
        "campaign": campaign,
        "state": "done",
        "blocked_reason": None,
        **status.empty_counts(),
        "percent_done": 100.0,
        "failure_reasons": {},
        "rate_per_minute": None,
        "eta_seconds": None,
        "last_activity": None,
    }
    return base | fields


REPORT: dict[str, Any] = {
    "totals": status.empty_counts(),  # not used by the metrics: sum() over jobs gives it
    "jobs": [
        job(
            "dnc-2026-11-26",
            "main",
            "Outbound_Sales",
            state="active",
            total=10,
            pending=3,
            in_flight=1,
            deleted=4,
            not_found=1,
            failed=1,
            failure_reasons={"invalid_phone": 1},
            rate_per_minute=99.5,
            eta_seconds=3,
            last_activity="2026-11-26T01:40:00+00:00",
        ),
        job(
            "old", "second", "C2", state="blocked", blocked_reason="invalid_campaign: x", pending=2
        ),
    ],
    "accounts": [
        {
            "name": "second",
            "stopped": True,
            "reason": "auth",
            "message": "Invalid User Details",
            "stopped_at": "2026-11-26T01:30:00+00:00",
        }
    ],
    "runner": {"active": True, "pid": 4242},
    "generated_at": "2026-11-26T01:41:40+00:00",
}

A = 'runner_job="dnc-2026-11-26",account="main",campaign="Outbound_Sales"'
B = 'runner_job="old",account="second",campaign="C2"'
EXPECTED = f"""\
# HELP runner_records Records of a job in each state.
# TYPE runner_records gauge
runner_records{{{A},state="pending"}} 3
runner_records{{{A},state="in_flight"}} 1
runner_records{{{A},state="deleted"}} 4
runner_records{{{A},state="not_found"}} 1
runner_records{{{A},state="failed"}} 1
runner_records{{{A},state="invalid"}} 0
runner_records{{{B},state="pending"}} 2
runner_records{{{B},state="in_flight"}} 0
runner_records{{{B},state="deleted"}} 0
runner_records{{{B},state="not_found"}} 0
runner_records{{{B},state="failed"}} 0
runner_records{{{B},state="invalid"}} 0
# HELP runner_job_failures Failed records of a job by failure reason.
# TYPE runner_job_failures gauge
runner_job_failures{{{A},reason="invalid_phone"}} 1
# HELP runner_job_blocked 1 when the job is blocked (runner status says why), else 0.
# TYPE runner_job_blocked gauge
runner_job_blocked{{{A}}} 0
runner_job_blocked{{{B}}} 1
# HELP runner_job_rate_per_minute Requests answered per minute over the last 10 minutes (0 when none).
# TYPE runner_job_rate_per_minute gauge
runner_job_rate_per_minute{{{A}}} 99.5
runner_job_rate_per_minute{{{B}}} 0
# HELP runner_job_eta_seconds Estimated seconds left; absent when unknown.
# TYPE runner_job_eta_seconds gauge
runner_job_eta_seconds{{{A}}} 3
# HELP runner_job_last_request_timestamp_seconds When the job's latest request started.
# TYPE runner_job_last_request_timestamp_seconds gauge
runner_job_last_request_timestamp_seconds{{{A}}} 1795657200
# HELP runner_account_stopped 1 when the API refused the account's credentials in the last run, else 0.
# TYPE runner_account_stopped gauge
runner_account_stopped{{account="main"}} 0
runner_account_stopped{{account="second"}} 1
# HELP runner_runner_active 1 while a runner holds the database lock, else 0.
# TYPE runner_runner_active gauge
runner_runner_active 1
# HELP runner_status_generated_timestamp_seconds When this report was made (Unix time); alert when it stops moving.
# TYPE runner_status_generated_timestamp_seconds gauge
runner_status_generated_timestamp_seconds 1795657300
"""  # noqa: E501


# ---------------------------------------------------------------- a small parser

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
COMMENT = re.compile(rf"^# (HELP|TYPE) ({NAME}) (.*)$")
UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

Sample = tuple[str, dict[str, str], float]


def parse_labels(text: str) -> dict[str, str]:
    """``a="x",b="y"`` to a dict, failing on anything the format does not allow."""
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = LABEL.match(text, position)
        assert match, f"bad label at {text[position:]!r}"
        assert match.group(1) not in labels, f"label {match.group(1)} twice"
        labels[match.group(1)] = re.sub(r"\\[\\\"n]", lambda m: UNESCAPE[m[0]], match.group(2))
        position = match.end()
        if position < len(text):
            assert text[position] == ",", f"expected ',' at {text[position:]!r}"
            position += 1
    return labels


def parse(text: str) -> list[Sample]:
    """Every line a HELP, a TYPE or ``name{labels} value``; families contiguous and typed."""
    assert text.endswith("\n")
    samples: list[Sample] = []
    seen: dict[str, set[str]] = {}
    finished: set[str] = set()
    current = ""
    for line in text.splitlines():
        comment = COMMENT.match(line)
        if comment:
            kind, name, rest = comment.groups()
            assert name not in finished, f"{name} appears again after another family"
            if name != current:
                finished.add(current)
                current = name
            seen.setdefault(name, set()).add(kind)
            if kind == "TYPE":
                assert rest == "gauge"
            continue
        sample = SAMPLE.match(line)
        assert sample, f"not a sample line: {line!r}"
        name, labels, value = sample.groups()
        assert name == current and seen[name] == {"HELP", "TYPE"}, f"{name}: no HELP/TYPE"
        assert value in ("NaN", "+Inf", "-Inf") or re.fullmatch(r"-?\d+(\.\d+)?(e[+-]\d+)?", value)
        samples.append((name, parse_labels(labels or ""), float(value)))
    series = [(name, tuple(sorted(labels.items()))) for name, labels, _ in samples]
    assert len(series) == len(set(series)), "a series appears twice"
    return samples


# ---------------------------------------------------------------- rendering


def test_exact_output_for_a_small_report() -> None:
    assert render(REPORT) == EXPECTED


def test_the_output_parses() -> None:
    samples = parse(render(REPORT))
    assert len(samples) == sum(not line.startswith("#") for line in EXPECTED.splitlines()) == 23
    assert ("runner_runner_active", {}, 1.0) in samples


def test_label_values_are_escaped() -> None:
    report = copy.deepcopy(REPORT)
    nasty = 'a\\b"c\nd'
    report["jobs"][1]["name"] = nasty
    report["jobs"][1]["campaign"] = "C:\\new"
    text = render(report)
    assert 'runner_job="a\\\\b\\"c\\nd",account="second",campaign="C:\\\\new"' in text
    blocked = [s for s in parse(text) if s[0] == "runner_job_blocked" and s[2] == 1]
    assert blocked == [
        ("runner_job_blocked", {"runner_job": nasty, "account": "second", "campaign": "C:\\new"}, 1)
    ]
    assert escape_label_value("\\n") == "\\\\n"  # a backslash then n, not a newline


def test_no_job_means_no_job_families() -> None:
    report = {**REPORT, "jobs": [], "accounts": [], "runner": {"active": False, "pid": None}}
    lines = render(report).splitlines()
    assert [line for line in lines if not line.startswith("#")] == [
        "runner_runner_active 0",
        "runner_status_generated_timestamp_seconds 1795657300",
    ]
    assert len(lines) == 6  # HELP and TYPE of those two only


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (True, "1"),
        (12, "12"),
        (99.5, "99.5"),
        (1795657300.0, "1795657300"),
        (0.1, "0.1"),
        (2.0**60, "1.152921504606847e+18"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_values(value: float, text: str) -> None:
    assert format_value(value) == text


async def test_a_report_from_a_real_database_parses(tmp_path: Path) -> None:
    """collect() and render() agree on the report's shape, and the counts come through."""
    source = tmp_path / "in.csv"
    source.write_text("phoneNumber\n", encoding="utf-8")
    async with await Store.open(tmp_path / "runner.db") as store:
        job_id = await store.ensure_job('the "big" one', "main", "Camp")
        source_id, _ = await store.source(job_id, source)
        rows = [Row(1, "8123400000", None), Row(2, "8123400001", None), InvalidRow(3, "x", "y")]
        await store.insert_rows(job_id, source_id, rows)
        claim = await store.claim([job_id], "main", started_at=1_000.0)
        assert claim is not None
        await store.settle(
            claim, Settlement("deleted", None, 1, 0.0, 200, "deleted", "ok", "{}", 1_001.0)
        )
        report = await status.collect(store, runner_pid=None, now=1_060.0)
    values = {(name, labels.get("state")): value for name, labels, value in parse(render(report))}
    assert values["runner_records", "deleted"] == 1
    assert values["runner_records", "pending"] == 1
    assert values["runner_records", "invalid"] == 1
    assert values["runner_job_eta_seconds", None] == 60  # 1 left at 1 a minute
    assert values["runner_job_last_request_timestamp_seconds", None] == 1_000
    assert values["runner_status_generated_timestamp_seconds", None] == 1_060
    assert values["runner_account_stopped", None] == 0


# ---------------------------------------------------------------- the file


def test_write_textfile_writes_the_whole_report(tmp_path: Path) -> None:
    target = tmp_path / "runner.prom"
    write_textfile(REPORT, target)
    assert target.read_text(encoding="utf-8") == EXPECTED
    assert target.stat().st_mode & 0o777 == 0o644  # node_exporter reads it as another user
    assert [p.name for p in tmp_path.iterdir()] == ["runner.prom"]  # no temporary file left


def test_write_textfile_replaces_by_rename(tmp_path: Path) -> None:
    """A reader that opened the old file keeps reading it whole: it was never rewritten."""
    target = tmp_path / "runner.prom"
    target.write_text("old_metric 1\n", encoding="utf-8")
    with target.open(encoding="utf-8") as reader:
        write_textfile(REPORT, target)
        assert reader.read() == "old_metric 1\n"
    assert target.read_text(encoding="utf-8") == EXPECTED
    assert [p.name for p in tmp_path.iterdir()] == ["runner.prom"]


def test_a_bad_report_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "runner.prom"
    target.write_text("old_metric 1\n", encoding="utf-8")
    with pytest.raises(KeyError):
        write_textfile({"jobs": []}, target)
    assert target.read_text(encoding="utf-8") == "old_metric 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["runner.prom"]
