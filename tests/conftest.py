from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from aiohttp.test_utils import TestClient, TestServer
from harness import Project, Sandbox
from sandbox_helpers import Client, MakeClient

from runner.sandbox.server import build_app
from runner.sandbox.settings import SandboxSettings

# The e2e files whose tests wait longest (sending at a paced rate, restarts, kill -9):
# put first, so that four workers start on them at once and the short tests fill the
# gaps, instead of one of them starting last and running alone at the end.
LONG_MODULES = frozenset(
    {
        "test_chaos.py",
        "test_e2e.py",
        "test_postgresql.py",
        "test_readonly.py",
        "test_restart_window.py",
        "test_sharing.py",
        "test_token_auth.py",
        "test_truth.py",
    }
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def long_first(item: pytest.Item) -> bool:
        return not (item.path.parent.name == "e2e" and item.path.name in LONG_MODULES)

    items.sort(key=long_first)  # stable: file order otherwise kept


@pytest.fixture(autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own per-user state folder: account locks never leak between tests
    (or into the real ~/.local/state), and a CLI subprocess inherits it."""
    home = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Start in-process sandboxes (``SandboxSettings`` keywords); closes them after the test."""
    clients: list[Client] = []

    async def factory(clock: Callable[[], float] = time.monotonic, **options: Any) -> Client:
        client: Client = TestClient(TestServer(build_app(SandboxSettings(**options), clock=clock)))
        await client.start_server()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def start(*options: str) -> Sandbox:
        sandbox = Sandbox(*options)
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory("--present-ratio", "0.5")


@pytest.fixture
def project(tmp_path: Path, sandbox: Sandbox) -> Project:
    return Project(tmp_path, sandbox.url)


@pytest.fixture
def sandbox_project(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> Callable[..., tuple[Project, Sandbox]]:
    """A project in tmp_path talking to a sandbox started with the given options."""

    def make(*options: str) -> tuple[Project, Sandbox]:
        sandbox = sandbox_factory(*options)
        return Project(tmp_path, sandbox.url), sandbox

    return make


# ---------------------------------------------------------------- PostgreSQL (tests/pg.py)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A running PostgreSQL for this pytest process (one per xdist worker): its admin URL."""
    import pg

    with pg.server() as url:
        yield url


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database of its own for one test: a postgresql:// URL, no password."""
    import pg

    with pg.fresh_database(pg_admin_url) as url:
        yield url
