"""Reading jobs.yaml: bounded in size, depth and alias expansion, then validated.

A config is a few kilobytes. Whatever the file holds, loading it takes bounded time
and memory and ends in a Config or one ConfigError line: the file is cut off at
:data:`MAX_CONFIG_BYTES`, nesting at :data:`MAX_DEPTH`, and the values the document
stands for (aliases expanded) at :data:`MAX_VALUES` -- a "billion laughs" document
is a few lines that PyYAML builds as shared references in no time, but that
anything walking it (validation, error messages) would expand exponentially.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from runner.config.messages import (
    Loc,
    key_path,
    line_of,
    located,
    unknown_key,
    validation_message,
    yaml_kind,
)
from runner.config.models import Config
from runner.core.errors import ConfigError

MAX_CONFIG_BYTES: Final = 1024 * 1024
MAX_DEPTH: Final = 50
MAX_VALUES: Final = 100_000


def load_config(
    path: Path,
    *,
    today: date | None = None,
    environ: Mapping[str, str] | None = None,
    jobs_required: bool = True,
) -> Config:
    """Read and validate jobs.yaml; ConfigError (one line, with file and line) if unusable.

    ``today`` is the local date ``{date}`` in job names stands for, ``environ`` the
    environment the default ``state_dir`` is found in (tests fix both). A worker's
    config may have no jobs (``jobs_required=False``): others load them.
    """
    display = str(path)
    text = _read_config_text(path, display)
    root, data = _parse_yaml(text, display)
    if root is None or data is None:
        raise ConfigError(f"{display}: the file is empty (see jobs.example.yaml)")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{display}:{line_of(root)}: the top level must be a mapping with 'accounts' and "
            f"'jobs', not a {yaml_kind(data)}"
        )
    duplicate = _find_duplicate_key(root, (), set())
    if duplicate is not None:
        loc, line = duplicate
        raise ConfigError(f"{display}:{line}: {key_path(loc)}: given twice in the same mapping")
    if "path" in data:
        raise ConfigError(located(display, root, ("path",), unknown_key(("path",))))
    absolute = path.expanduser().resolve()
    context = {
        "base_dir": absolute.parent,
        "today": date.today() if today is None else today,
        "environ": os.environ if environ is None else environ,
        "jobs_required": jobs_required,
    }
    if not jobs_required and data.get("jobs") is None:
        data = {**data, "jobs": []}
    try:
        return Config.model_validate({**data, "path": absolute}, context=context)
    except ValidationError as exc:
        raise ConfigError(validation_message(display, root, exc.errors()[0])) from None


def _read_config_text(path: Path, display: str) -> str:
    """The file's text, or a ConfigError saying why it cannot be read (or is too big)."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)  # no more, even from /dev/zero
    except FileNotFoundError:
        raise ConfigError(f"{display}: no such file (see jobs.example.yaml)") from None
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{display}: larger than {MAX_CONFIG_BYTES // 1024 // 1024} MiB; a jobs.yaml is a "
            "few kilobytes (is this the right file?)"
        )
    try:
        return data.decode("utf-8-sig")  # Windows editors add a BOM
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{display}: not UTF-8 text (byte {exc.start})") from None


class _Refused(yaml.MarkedYAMLError):
    """The document is beyond a bound; reported like any YAML error, with its line."""

    def __init__(self, mark: yaml.Mark | None, problem: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses documents nested deeper than MAX_DEPTH while composing,
    before PyYAML's own recursion can hit Python's limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(self.peek_event().start_mark, _too_deep())  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A scalar PyYAML cannot turn into a value (an int of 5000 digits, the date
        # 2024-13-45) raises ValueError or OverflowError, without a line: give it one.
        try:
            value = super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            problem = f"cannot read the value {_cut(str(node.value))}: {_cut(str(exc))}"
            raise _Refused(node.start_mark, problem) from None
        if isinstance(value, str) and not _encodable(value):
            # "\ud800" in a quoted string is half a character: no file name, message or
            # request can hold it (it fails when encoded, far from here).
            raise _Refused(
                node.start_mark,
                "a \\u escape of half a character (a UTF-16 surrogate); write the character",
            )
        return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep"


def _cut(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= 60 else one_line[:60] + "…"


def _parse_yaml(text: str, display: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data, from one safe, bounded parse."""
    loader = _yaml_loader(text, display)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        check_expansion(root)
        return root, loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{display}:{mark.line + 1}" if mark is not None else display
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display}: invalid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:  # a safety net: MAX_DEPTH is far below Python's limit
        raise ConfigError(f"{display}: invalid YAML: {_too_deep()}") from None
    finally:
        loader.dispose()


def _yaml_loader(text: str, display: str) -> _BoundedLoader:
    """A loader for ``text``; PyYAML refuses control characters when it is created."""
    try:
        return _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, int(exc.position)) + 1
        raise ConfigError(
            f"{display}:{line}: invalid YAML: control character U+{int(exc.character):04X} "
            "(is this a text file?)"
        ) from None


def check_expansion(root: yaml.Node) -> None:
    """Refuse a node tree that stands for more than MAX_VALUES values once aliases are
    expanded, or nests deeper than MAX_DEPTH through them, or contains itself.

    An alias is the anchored node itself in the tree, so sizes are counted once per
    node (memoised): linear in the document's size, however much it expands to.
    """
    _expanded_size(root, 1, {}, set())


def _expanded_size(node: yaml.Node, depth: int, sizes: dict[int, int], open_: set[int]) -> int:
    key = id(node)
    known = sizes.get(key)
    if known is not None:
        return known
    if key in open_:
        raise _Refused(node.start_mark, "an alias (*name) refers to a value that contains it")
    if depth > MAX_DEPTH:
        raise _Refused(node.start_mark, _too_deep() + " (counting aliases)")
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    open_.add(key)
    total = 1
    for child in children:
        total += _expanded_size(child, depth + 1, sizes, open_)
        if total > MAX_VALUES:
            raise _Refused(
                node.start_mark,
                f"more than {MAX_VALUES:,} values (aliases *name expanded); a jobs.yaml "
                "holds far fewer",
            )
    open_.discard(key)
    sizes[key] = total
    return total


def _find_duplicate_key(node: yaml.Node, loc: Loc, seen: set[int]) -> tuple[Loc, int] | None:
    """Path and line of the first key given twice in a mapping (YAML keeps the last silently)."""
    if id(node) in seen:  # an alias: already walked
        return None
    seen.add(id(node))
    children: list[tuple[str | int, yaml.Node]] = []
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in keys:
                return (*loc, key), line_of(key_node)
            keys.add(key)
            children.append((key, value_node))
    elif isinstance(node, yaml.SequenceNode):
        children = list(enumerate(node.value))
    for step, child in children:
        found = _find_duplicate_key(child, (*loc, step), seen)
        if found is not None:
            return found
    return None
