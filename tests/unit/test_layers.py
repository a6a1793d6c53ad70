"""The import graph of ``runner``: one way only, and every import at the top of its module.

Parsed with :mod:`ast`, nothing imported. A cycle (two modules importing each other,
however far round) makes the code read in no order; a late import (inside a function)
hides one. Only the command line (``runner/cli/``) imports late, so that
``runner --help`` stays fast; imports under ``if TYPE_CHECKING:`` run never and count
for neither.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "runner"
LAZY = "runner.cli"  # the one package whose functions import what their command needs
MAX_LINES = 350
# Over the limit for now, and why.
KNOWN_LONG: dict[str, str] = {}
# The stages, lowest first: a module imports only its own stage and the stages before it
# (README, "How the code is laid out"). ``runner`` itself (the version) sits under all.
STAGES = [
    "runner.core",
    "runner.intake",
    "runner.storage",
    "runner.config",
    "runner.sandbox",
    "runner.sending",
    "runner.reports",
    "runner.commands",
    "runner.testing",
    "runner.cli",
]
ENTRY = {"runner": -1, "runner.__main__": len(STAGES)}  # the version; python -m runner


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(node: ast.Import | ast.ImportFrom, module: str) -> Iterator[str]:
    """The runner modules an import statement loads (``from runner import x``: runner.x)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        assert node.level == 0, f"{module}: a relative import; runner spells them out"
        base = node.module or ""
        names = [f"{base}.{alias.name}" for alias in node.names] + [base]
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith("runner") and name != module:
            yield name


def top_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (not under TYPE_CHECKING)."""
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not is_type_checking(node):
            stack.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            stack.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                stack.extend(handler.body)


def late_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports inside a function or method."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges[module] = {
            name for node in top_level_imports(tree) for name in imported(node, module)
        }
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as the modules round it, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_there_is_no_import_cycle_in_runner() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def optional_backend(node: ast.Import | ast.ImportFrom) -> bool:
    """An import of the PostgreSQL side, made only when a postgresql:// database is
    configured: a SQLite user's process never loads psycopg (nor needs libpq)."""
    if isinstance(node, ast.ImportFrom):
        names = [node.module or ""]
    else:
        names = [alias.name for alias in node.names]
    return all(
        name.split(".")[0] == "psycopg" or name.startswith("runner.storage.pg") for name in names
    )


def test_only_the_command_line_imports_late() -> None:
    late = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for module, path in MODULES.items()
        if not (module == LAZY or module.startswith(LAZY + "."))
        for node in late_imports(ast.parse(path.read_text(encoding="utf-8")))
        if not optional_backend(node)
    ]
    assert late == []


def stage(module: str) -> int:
    """The rank of a module's stage in STAGES; a module in none of them fails the test."""
    if module in ENTRY:
        return ENTRY[module]
    for rank, package in enumerate(STAGES):
        if module == package or module.startswith(package + "."):
            return rank
    raise AssertionError(f"{module}: in no stage; add its package to STAGES")


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    """Every import of a module of a higher stage, as "importer -> imported"."""
    return sorted(
        f"{module} -> {target}"
        for module, targets in edges.items()
        for target in targets
        if stage(target) > stage(module)
    )


def test_no_stage_imports_a_stage_above_it() -> None:
    assert upward_imports(graph()) == []


def test_every_module_of_runner_is_in_a_stage() -> None:
    """A new top-level module or package must be placed in the order, not slip past it."""
    assert {module: stage(module) >= -1 for module in MODULES} == dict.fromkeys(MODULES, True)


def test_the_stage_check_finds_an_upward_import() -> None:
    edges = {
        "runner.storage.store": {"runner.core.errors", "runner.sending.drain"},
        "runner.sending.drain": {"runner.storage.queue", "runner"},
        "runner.cli.group": {"runner.commands.run"},
    }
    assert upward_imports(edges) == ["runner.storage.store -> runner.sending.drain"]
    with pytest.raises(AssertionError, match=r"runner\.elsewhere: in no stage"):
        stage("runner.elsewhere")


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in MODULES.values()
        if str(path.relative_to(PACKAGE.parent)) not in KNOWN_LONG
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_checker_finds_a_cycle_and_a_late_import() -> None:
    """The checks above can fail: a cycle and a late import are seen."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    tree = ast.parse("import os\ndef f():\n    from runner import run\n")
    assert [node.lineno for node in late_imports(tree)] == [3]
    guarded = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\n")
    assert [type(node).__name__ for node in top_level_imports(guarded)] == ["ImportFrom"]


@pytest.mark.parametrize("name", ["runner.commands.run", "runner.sending.drain"])
def test_the_graph_sees_the_imports_of_real_modules(name: str) -> None:
    assert "runner.storage.queue" in graph()[name] or "runner.storage.store" in graph()[name]
