"""status and export, through the real CLI, for a user who may read the database but not write.

Root ignores file permissions, so the reader runs as uid ``nobody`` in the database's
group (tests/readers.py) on a project in a folder of that group (2750) only root may
write; the runner's files are 0640, so a user outside the group reads nothing.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Project, Sandbox, numbers
from readers import as_reader, monitored_folder, skip_unless_importable


@pytest.fixture
def shared_root() -> Iterator[Path]:
    with monitored_folder("runner-ro-e2e-") as folder:
        skip_unless_importable()
        yield folder


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
        done = as_reader("-m", "runner", *args)
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

    assert as_reader("-m", "runner", "status", "--db", str(project.database),
                     member=False).returncode != 0  # fmt: skip
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
