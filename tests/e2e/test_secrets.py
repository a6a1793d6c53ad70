"""Secrets and transport: the API key is in no byte the runner writes; TLS is verified."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from harness import Project, Sandbox, cli_command, cli_env, numbers

from runner.core.redaction import reveals

SECRET = "s3cr3t-key-0f-the-account"


def written_bytes(root: Path) -> bytes:
    """Every file under ``root`` the runner may have written (database, WAL, lock, exports)."""
    return b"".join(path.read_bytes() for path in root.rglob("*") if path.is_file())


def test_the_key_is_in_no_file_log_or_error(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = sandbox_factory("--api-key", SECRET, "--error-rate", "0.3", "--latency-ms", "20")
    project = Project(tmp_path, sandbox.url)
    project.add_job("purge", numbers(40))
    project.account = {"rate_limit": "20/s"}
    project.write()
    # A run killed mid-way leaves its WAL behind, with whatever it held.
    crashed = project.start("run", "-v", "--log-format", "json", api_key=SECRET)
    sandbox.wait_for(lambda stats: stats["requests"] >= 10)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait()
    assert (tmp_path / "runner.db-wal").exists()
    assert SECRET.encode() not in written_bytes(tmp_path)

    logs = []
    for args in (["run", "-v", "--log-format", "console"], ["status"], ["export"]):
        result = project.run(*args, api_key=SECRET)
        assert result.code == 0, result.stderr
        logs.append(result.stdout + result.stderr)

    assert SECRET not in "".join(logs)
    assert SECRET.encode() not in written_bytes(tmp_path)


ECHOED_KEY = "Sup3r/Secret+Key=="


def echoes(key: str) -> dict[str, str]:
    """The ways common servers quote a key back: JSON-escaped, \\u-escaped, percent-encoded."""
    return {
        "json_slash": json.dumps({"message": f"Invalid apiKey {key}"}).replace("/", "\\/"),
        "json_unicode": json.dumps({"message": f"Invalid apiKey {key}"}, ensure_ascii=True)
        .replace("+", "\\u002b")
        .replace("=", "\\u003d"),
        "double": json.dumps(json.dumps({"message": f"Bad key {key}".replace("/", "\\/")})),
        "percent": f"<a href='/login?apiKey={quote(key, safe='')}'>log in</a>",
    }


def test_a_key_echoed_escaped_or_percent_encoded_is_nowhere(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    phones = numbers(8)
    bodies = list(echoes(ECHOED_KEY).values())
    answers = {phone: {"status": 200 if i % 4 < 3 else 502, "body": bodies[i % 4]}
               for i, phone in enumerate(phones)}  # fmt: skip
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    sandbox = sandbox_factory("--api-key", ECHOED_KEY, "--answers", str(tmp_path / "answers.json"))
    project = Project(tmp_path / "project", sandbox.url)
    project.root.mkdir()
    project.add_job("purge", phones)
    project.settings = {"retry": {"max_attempts": 2, "backoff_initial_seconds": 0.01,
                                  "backoff_max_seconds": 0.02}}  # fmt: skip
    project.write()

    said = []
    for fmt in ("json", "console"):
        result = project.run("run", "-v", "--log-format", fmt, api_key=ECHOED_KEY)
        assert result.code == 1, result.stderr  # every record failed on its odd answer
        said.append(result.stdout + result.stderr)
    for args in (["status"], ["status", "--json"], ["export"], ["export", "--requests"]):
        said.append(project.run(*args, api_key=ECHOED_KEY).stdout)
    project.run("export", "--requests", "-o", "audit.csv", api_key=ECHOED_KEY)

    assert "***" in said[-1]
    assert sandbox.stats()["requests"] >= len(phones)
    shown = "".join(said)
    assert not reveals(shown, ECHOED_KEY), shown
    assert not reveals(written_bytes(project.root).decode("latin-1"), ECHOED_KEY)


def test_a_rejected_key_is_not_echoed(project: Project, sandbox: Sandbox) -> None:
    project.add_job("purge", numbers(5))
    project.write()
    result = project.run("run", "-v", api_key=SECRET)
    assert result.code == 3
    assert SECRET not in result.stdout + result.stderr
    assert SECRET.encode() not in written_bytes(project.root)


def test_a_key_file_is_read_and_never_echoed(project: Project, sandbox: Sandbox) -> None:
    key_file = project.root / "main.key"
    key_file.write_text("sandbox-key\n")
    key_file.chmod(0o600)
    project.add_job("purge", numbers(5))
    project.account = {"api_key_env": None, "api_key_file": "main.key"}
    project.write()
    result = project.run("run")
    assert result.code == 0, result.stderr
    assert project.job_status("purge")["pending"] == 0


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_certificates_are_verified(
    tmp_path: Path, self_signed: tuple[Path, Path]
) -> None:
    hits = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.headers.get("apiKey"))
        return web.json_response({"status": "Success", "message": "Deleted Successfully"})

    app = web.Application()
    app.router.add_delete("/ca_apis/deleteCampaignData", handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        project = Project(tmp_path, f"https://127.0.0.1:{port}")
        project.add_job("purge", numbers(1))
        project.settings = {"retry": {"max_attempts": 1}}
        project.write()
        process = await asyncio.create_subprocess_exec(
            *cli_command("run"), cwd=tmp_path, env=cli_env(SECRET),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await runner.cleanup()

    assert process.returncode == 1
    assert hits == []  # the handshake failed: the key never reached the impostor
    events = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    failure = next(e for e in events if e["event"] == "record_failed")
    assert "certificate verify failed" in failure["message"].lower()
    assert SECRET not in stderr.decode()
