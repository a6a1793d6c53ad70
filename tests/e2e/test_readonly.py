"""status and export, through the real CLI, for a user who may read the database but not write.

Root ignores file permissions, so the reader runs as user ``nobody`` on a project in a
folder every user may read and only root may write.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Project, Sandbox, numbers


@pytest.fixture
def shared_root() -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv, to run the reader as another user")
    folder = Path(tempfile.mkdtemp(prefix="runner-ro-e2e-"))
    folder.chmod(0o755)
    probe = as_nobody("-c", "import runner.cli")
    if probe.returncode != 0:
        shutil.rmtree(folder)
        pytest.skip(f"user nobody cannot import runner here: {probe.stderr.strip()[-200:]}")
    yield folder
    shutil.rmtree(folder)


def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    """This Python as user nobody (uid 65534), with no groups and no writable home."""
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, *args],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
        env={"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent"},
    )  # fmt: skip


def read_everything(database: Path) -> dict[str, str]:
    """Every reader's output as nobody; each must succeed."""
    outputs = {}
    for name, args in {
        "json": ["status", "--db", str(database), "--json"],
        "table": ["status", "--db", str(database)],
        "prometheus": ["status", "--db", str(database), "--prometheus", "-"],
        "export": ["export", "--db", str(database)],
        "requests": ["export", "--db", str(database), "--requests"],
    }.items():
        done = as_nobody("-m", "runner", *args)
        assert done.returncode == 0, (name, done.stderr)
        assert "Traceback" not in done.stderr
        outputs[name] = done.stdout
    return outputs


def test_status_and_export_read_after_and_during_a_run_without_write_access(
    sandbox_factory: Callable[..., Sandbox], shared_root: Path
) -> None:
    sandbox = sandbox_factory("--present-ratio", "0.5")
    project = Project(shared_root, sandbox.url, account={"rate_limit": "20/s"})
    project.add_job("purge", numbers(30))
    project.write()
    assert project.run("run").code == 0
    assert not Path(f"{project.database}-wal").exists()  # only an immutable open reads it now

    after = read_everything(project.database)

    assert json.loads(after["json"])["totals"]["total"] == 30
    assert after["export"].count("\n") == 31  # header and one row per record
    assert 'runner_records{' in after["prometheus"]
    project.add_job("later", numbers(40, start=9_700_000_000))
    project.write()
    worker = project.start("worker")
    try:
        sandbox.wait_for(lambda stats: stats["requests"] >= 35)
        assert Path(f"{project.database}-wal").exists()

        during = read_everything(project.database)

        report = json.loads(during["json"])
        assert report["runner"]["active"] is True and report["runner"]["mode"] == "worker"
        assert report["totals"]["total"] == 70
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    assert worker.returncode == 143
    # The readers changed nothing: every file of the folder still belongs to root.
    assert {path.stat().st_uid for path in shared_root.iterdir()} == {0}
