"""Tests of runner.reports.metrics: the exact text, its escaping, its syntax, the atomic write."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbhelpers import claim as claim_one
from dbhelpers import insert_rows

from runner.core.states import BlockReason, JobState, RecordState, StopReason
from runner.intake.inputs import FileStamp, InvalidRow, Row
from runner.reports import metrics, status
from runner.reports.metrics import escape_label_value, format_value, render, write_textfile
from runner.reports.report import (
    AccountStatus,
    Counts,
    JobStatus,
    Report,
    RunnerStatus,
    SenderStatus,
)
from runner.storage.queue import Settlement
from runner.storage.store import Store

NOW = 1_795_657_300.0  # 2026-11-26T01:41:40Z

# Values chosen to tell every series apart, not to be a consistent story.
REPORT = Report(
    generated_at=NOW,
    jobs=(
        JobStatus(
            1, "dnc-2026-11-26", "main", "Outbound_Sales", JobState.ACTIVE,
            Counts(pending=3, in_flight=1, deleted=4, not_found=1, failed=1),
            waiting="account main is not in the worker's config",
            failure_reasons=(("invalid_phone", 1),),
            not_found_after_interrupted=2,
            rate_per_minute=99.5,
            eta_seconds=2.6,
            last_activity=NOW - 100,
        ),
        JobStatus(
            2, "old", "second", "C2", JobState.BLOCKED, Counts(pending=2),
            blocked_reason=BlockReason.INVALID_CAMPAIGN, blocked_message="x",
        ),
    ),
    accounts=(
        AccountStatus("main", sender=SenderStatus(4242, "/db", "worker", "sending", None, None,
                                                  NOW - 1, current=True)),
        AccountStatus("second", StopReason.AUTH, "Invalid User Details", NOW - 600),
    ),
    runner=RunnerStatus(active=True, pid=4242, mode="worker", busy=True),
    request_totals=(("main", "deleted", "200", 5), ("main", "interrupted", "", 1)),
)  # fmt: skip

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
runner_records{{{A},state="cancelled"}} 0
runner_records{{{B},state="pending"}} 2
runner_records{{{B},state="in_flight"}} 0
runner_records{{{B},state="deleted"}} 0
runner_records{{{B},state="not_found"}} 0
runner_records{{{B},state="failed"}} 0
runner_records{{{B},state="invalid"}} 0
runner_records{{{B},state="cancelled"}} 0
# HELP runner_records_total Records of a job that reached each final state (from the database: survives restarts; `runner retry` moves failed or cancelled ones back).
# TYPE runner_records_total counter
runner_records_total{{{A},state="deleted"}} 4
runner_records_total{{{A},state="not_found"}} 1
runner_records_total{{{A},state="failed"}} 1
runner_records_total{{{A},state="invalid"}} 0
runner_records_total{{{A},state="cancelled"}} 0
runner_records_total{{{B},state="deleted"}} 0
runner_records_total{{{B},state="not_found"}} 0
runner_records_total{{{B},state="failed"}} 0
runner_records_total{{{B},state="invalid"}} 0
runner_records_total{{{B},state="cancelled"}} 0
# HELP runner_job_failures Failed records of a job by failure reason.
# TYPE runner_job_failures gauge
runner_job_failures{{{A},reason="invalid_phone"}} 1
# HELP runner_job_blocked 1 when the job is blocked (runner status says why), else 0.
# TYPE runner_job_blocked gauge
runner_job_blocked{{{A}}} 0
runner_job_blocked{{{B}}} 1
# HELP runner_job_waiting 1 when the running process leaves the job pending (runner status says why), else 0.
# TYPE runner_job_waiting gauge
runner_job_waiting{{{A}}} 1
runner_job_waiting{{{B}}} 0
# HELP runner_job_not_found_after_interrupted Records not found after an interrupted request of theirs (probably deleted by it).
# TYPE runner_job_not_found_after_interrupted gauge
runner_job_not_found_after_interrupted{{{A}}} 2
runner_job_not_found_after_interrupted{{{B}}} 0
# HELP runner_job_requests_per_second Requests answered per second, from the first to the last start in the last 600 seconds (0 when fewer than two).
# TYPE runner_job_requests_per_second gauge
runner_job_requests_per_second{{{A}}} 1.6583333333333334
runner_job_requests_per_second{{{B}}} 0
# HELP runner_job_eta_seconds Estimated seconds left, from the records finished recently; only while the job is being sent (absent when blocked, stopped, waiting or with no sender).
# TYPE runner_job_eta_seconds gauge
runner_job_eta_seconds{{{A}}} 3
# HELP runner_job_last_request_timestamp_seconds When the job's latest request started.
# TYPE runner_job_last_request_timestamp_seconds gauge
runner_job_last_request_timestamp_seconds{{{A}}} 1795657200
# HELP runner_account_stopped 1 when the account is stopped for this reason (runner status says why), else 0.
# TYPE runner_account_stopped gauge
runner_account_stopped{{account="main",reason="auth"}} 0
runner_account_stopped{{account="main",reason="auth_setting"}} 0
runner_account_stopped{{account="main",reason="redirect"}} 0
runner_account_stopped{{account="main",reason="unknown_answers"}} 0
runner_account_stopped{{account="main",reason="unreachable"}} 0
runner_account_stopped{{account="main",reason="no_usable_answer"}} 0
runner_account_stopped{{account="main",reason="rate_limited"}} 0
runner_account_stopped{{account="second",reason="auth"}} 1
runner_account_stopped{{account="second",reason="auth_setting"}} 0
runner_account_stopped{{account="second",reason="redirect"}} 0
runner_account_stopped{{account="second",reason="unknown_answers"}} 0
runner_account_stopped{{account="second",reason="unreachable"}} 0
runner_account_stopped{{account="second",reason="no_usable_answer"}} 0
runner_account_stopped{{account="second",reason="rate_limited"}} 0
# HELP runner_account_sending 1 while the runner holding the database has runnable records of the account and paces them (sender state sending, whatever the rate), else 0.
# TYPE runner_account_sending gauge
runner_account_sending{{account="main"}} 1
runner_account_sending{{account="second"}} 0
# HELP runner_account_sender_state 1 for the account's current sender state, else 0; states: sending, waiting, idle, stopped, unreachable, no_usable_answer, rate_limited, locked_elsewhere (runner status says why).
# TYPE runner_account_sender_state gauge
runner_account_sender_state{{account="main",state="sending"}} 1
runner_account_sender_state{{account="main",state="waiting"}} 0
runner_account_sender_state{{account="main",state="idle"}} 0
runner_account_sender_state{{account="main",state="stopped"}} 0
runner_account_sender_state{{account="main",state="unreachable"}} 0
runner_account_sender_state{{account="main",state="no_usable_answer"}} 0
runner_account_sender_state{{account="main",state="rate_limited"}} 0
runner_account_sender_state{{account="main",state="locked_elsewhere"}} 0
runner_account_sender_state{{account="second",state="sending"}} 0
runner_account_sender_state{{account="second",state="waiting"}} 0
runner_account_sender_state{{account="second",state="idle"}} 0
runner_account_sender_state{{account="second",state="stopped"}} 0
runner_account_sender_state{{account="second",state="unreachable"}} 0
runner_account_sender_state{{account="second",state="no_usable_answer"}} 0
runner_account_sender_state{{account="second",state="rate_limited"}} 0
runner_account_sender_state{{account="second",state="locked_elsewhere"}} 0
# HELP runner_requests_total HTTP requests ever made per account, outcome and HTTP status (from the database: survives restarts; '' when a request was cut off without an answer).
# TYPE runner_requests_total counter
runner_requests_total{{account="main",outcome="deleted",http_status="200"}} 5
runner_requests_total{{account="main",outcome="interrupted",http_status=""}} 1
# HELP runner_active 1 while a runner holds the database lock, else 0.
# TYPE runner_active gauge
runner_active 1
# HELP runner_worker_busy 1 while the runner holding the database is sending for some account (sender state sending), else 0.
# TYPE runner_worker_busy gauge
runner_worker_busy 1
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
                assert rest == ("counter" if name.endswith("_total") else "gauge"), name
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
    assert len(samples) == sum(not line.startswith("#") for line in EXPECTED.splitlines()) == 72
    assert ("runner_active", {}, 1.0) in samples


def test_every_series_parses_with_prometheus_client() -> None:
    """The reference parser reads every family with its type, and every sample of ours."""
    from prometheus_client.parser import text_string_to_metric_families

    text = render(REPORT)
    parsed = list(text_string_to_metric_families(text))
    ours = parse(text)
    theirs = [(s.name, s.labels, float(s.value)) for family in parsed for s in family.samples]
    assert sorted(map(repr, theirs)) == sorted(map(repr, ours))
    types = {family.name: family.type for family in parsed}
    # The client names a counter family without its _total suffix.
    assert types["runner_requests"] == types["runner_records_total".removesuffix("_total")]
    assert types["runner_requests"] == "counter"
    assert {name for name, kind in types.items() if kind == "gauge"} >= {
        "runner_active", "runner_account_sending", "runner_job_eta_seconds"
    }  # fmt: skip
    assert not any("runner_runner" in name for name, _, _ in ours)  # no doubled prefix


def test_label_values_are_escaped() -> None:
    nasty = 'a\\b"c\nd'
    old = dataclasses.replace(REPORT.jobs[1], name=nasty, campaign="C:\\new")
    text = render(dataclasses.replace(REPORT, jobs=(REPORT.jobs[0], old)))
    assert 'runner_job="a\\\\b\\"c\\nd",account="second",campaign="C:\\\\new"' in text
    blocked = [s for s in parse(text) if s[0] == "runner_job_blocked" and s[2] == 1]
    assert blocked == [
        ("runner_job_blocked", {"runner_job": nasty, "account": "second", "campaign": "C:\\new"}, 1)
    ]
    assert escape_label_value("\\n") == "\\\\n"  # a backslash then n, not a newline


def test_no_job_means_no_job_families() -> None:
    report = Report(NOW, (), (), RunnerStatus(active=False))
    lines = render(report).splitlines()
    assert [line for line in lines if not line.startswith("#")] == [
        "runner_active 0",
        "runner_worker_busy 0",
        "runner_status_generated_timestamp_seconds 1795657300",
    ]
    assert len(lines) == 9  # HELP and TYPE of those three only


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
        source_id, _ = await store.source(job_id, source, FileStamp.of(source))
        rows = [Row(n, f"812340000{n}", None) for n in (1, 2, 3)] + [InvalidRow(4, "x", "y")]
        await insert_rows(store, job_id, source_id, rows)
        for started in (1_000.0, 1_030.0):  # one interval of 30 s: 2 a minute
            claim = await claim_one(store, [job_id], "main", at=started)
            assert claim is not None
            await store.settle(
                claim,
                Settlement(RecordState.DELETED, None, 1, 0.0, 200, "deleted", "ok", "{}",
                           started + 1),
            )  # fmt: skip
        report = await status.collect(store, now=1_060.0, holder_pid=None)
    samples = parse(render(report))
    values = {(name, labels.get("state")): value for name, labels, value in samples}
    assert values["runner_records", "deleted"] == 2
    assert values["runner_records", "pending"] == 1
    assert values["runner_records", "invalid"] == 1
    assert values["runner_job_requests_per_second", None] == pytest.approx(2 / 60)
    assert ("runner_job_eta_seconds", None) not in values  # no runner: no ETA
    assert values["runner_job_last_request_timestamp_seconds", None] == 1_030
    assert values["runner_status_generated_timestamp_seconds", None] == 1_060
    stops = [(labels, value) for name, labels, value in samples if name == "runner_account_stopped"]
    assert stops == [({"account": "main", "reason": r.value}, 0) for r in StopReason]


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


def test_a_failed_rendering_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(report: Report) -> Iterator[metrics.Family]:
        yield from metrics._job_families(report.jobs)
        raise RuntimeError("half way")

    monkeypatch.setattr(metrics, "families", broken)
    target = tmp_path / "runner.prom"
    target.write_text("old_metric 1\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        write_textfile(REPORT, target)
    assert target.read_text(encoding="utf-8") == "old_metric 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["runner.prom"]


# ---------------------------------------------------------------- the documented table


def documented_metrics() -> dict[str, tuple[str, set[str]]]:
    """{metric: (type, labels)} from the table in examples/README.md."""
    readme = Path(__file__).parents[2] / "examples" / "README.md"
    table: dict[str, tuple[str, set[str]]] = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        row = re.match(r"^\| `(runner_\w+)` \| (\w+) \|([^|]*)\|", line)
        if row:
            labels = set(re.findall(r"`(\w+)`", row.group(3)))
            table[row.group(1)] = (row.group(2), labels)
    return table


def test_the_examples_table_documents_every_metric_with_its_type_and_labels() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    text = render(REPORT)
    types = {f"{f.name}_total" if f.type == "counter" else f.name: f.type
             for f in text_string_to_metric_families(text)}  # fmt: skip
    labels: dict[str, set[str]] = {}
    for name, sample_labels, _ in parse(text):
        labels.setdefault(name, set()).update(sample_labels)
    assert documented_metrics() == {name: (types[name], labels[name]) for name in types}
