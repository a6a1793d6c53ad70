from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Project, Sandbox


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
