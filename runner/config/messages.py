"""Where in jobs.yaml a problem is, and how to say it: ``file:line: key.path: problem``.

Line numbers come from the composed YAML node tree, walked along the ``loc`` of the
pydantic error. Values of the key settings are never quoted back (a key pasted
into them must not be shown), and every quoted value is cut short, so a message is
one short line whatever the file holds.
"""

from __future__ import annotations

import difflib
import re
from typing import Final

import yaml
from pydantic import BaseModel
from pydantic_core import ErrorDetails

from runner.config.accounts import AccountConfig
from runner.config.fields import SHOWN_LIMIT, Located, shown
from runner.config.models import Config, JobConfig, NotFoundGuard, RetryConfig

Loc = tuple[str | int, ...]

# Keys whose values are never quoted back: a key pasted into them must not be shown.
_NEVER_SHOWN: Final = frozenset({"api_key_env", "api_key_file"})
_FRIENDLY: Final = {
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "dict_type": "expected a mapping (key: value lines)",
    "list_type": "expected a list (lines starting with '- ')",
    "path_type": "expected a path (text)",
}
# Fields filled in by the loader, not written in the file.
_FILLED_IN: Final[dict[type[BaseModel], frozenset[str]]] = {
    Config: frozenset({"path"}),
    AccountConfig: frozenset({"name"}),
}
_KEY_WORDS: Final = re.compile(r"api[_-]?key|key|token|secret|password", re.IGNORECASE)
# Keys longer than this get no "did you mean": no key is, and difflib is quadratic.
_SUGGEST_LIMIT: Final = 100


def validation_message(display: str, root: yaml.Node, error: ErrorDetails) -> str:
    """One line for the first pydantic error, located in the file."""
    loc = tuple(error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, Located):
        loc = (*loc, *cause.loc)
    return located(display, root, loc, problem(error, loc, cause))


def located(display: str, root: yaml.Node, loc: Loc, message: str) -> str:
    """``file:line: key.path: message``; the key path is left out for the top level."""
    where = f"{display}:{line_at(root, loc)}"
    return one_line(f"{where}: {key_path(loc)}: {message}" if loc else f"{where}: {message}")


def one_line(text: str) -> str:
    """``text`` with every unprintable character escaped (``\\n``): a key of the config may
    hold a line break, and an error is always one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def line_at(root: yaml.Node, loc: Loc) -> int:
    """Line of the deepest node along ``loc`` that exists (a missing key: its mapping)."""
    node, line = root, line_of(root)
    for step in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next((kv for kv in node.value if str(kv[0].value) == str(step)), None)
            if entry is None:
                break
            line, node = line_of(entry[0]), entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if not 0 <= step < len(node.value):
                break
            node = node.value[step]
            line = line_of(node)
        else:
            break
    return line


def line_of(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def key_path(loc: Loc) -> str:
    """``("jobs", 1, "rate_limit")`` as ``jobs[1].rate_limit`` (long keys cut short)."""
    text = ""
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            name = step if len(step) <= SHOWN_LIMIT else step[:SHOWN_LIMIT] + "…"
            text += f".{name}" if text else name
    return text


def problem(error: ErrorDetails, loc: Loc, cause: object) -> str:
    """What is wrong, in words an operator can act on."""
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return unknown_key(loc)
    if isinstance(cause, ValueError):
        return str(cause)
    visible = bool(loc) and loc[-1] not in _NEVER_SHOWN
    if kind == "string_type":
        read_as = f"{shown(value)} as {yaml_kind(value)}" if visible else yaml_kind(value)
        return f"expected text, but YAML read {read_as}; put the value in quotes"
    message = _FRIENDLY.get(kind, error["msg"][:1].lower() + error["msg"][1:])
    if visible and isinstance(value, str | int | float | bool):
        message += f" (got {shown(value)})"
    return message


def yaml_kind(value: object) -> str:
    """A YAML-ish name for a Python value's type, for messages."""
    if value is None:
        return "nothing (null)"
    return _YAML_KINDS.get(type(value), type(value).__name__)


_YAML_KINDS: Final[dict[type, str]] = {dict: "mapping", list: "list", str: "text"}


def unknown_key(loc: Loc) -> str:
    """Name the unknown key and suggest the likely intended one."""
    key = str(loc[-1])
    message = f"unknown key {shown(key)}"
    if _KEY_WORDS.fullmatch(key):
        return f"{message}: the API key never goes in this file; use api_key_env or api_key_file"
    allowed = _allowed_keys(loc[:-1])
    close = difflib.get_close_matches(key, allowed, n=1) if len(key) <= _SUGGEST_LIMIT else []
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message} (keys: {', '.join(allowed)})" if allowed else message


def _allowed_keys(parent: Loc) -> list[str]:
    """Keys the file may give in the mapping at ``parent``."""
    match parent:
        case ():
            model: type[BaseModel] = Config
        case ("accounts", _):
            model = AccountConfig
        case ("retry",):
            model = RetryConfig
        case ("jobs", int()):
            model = JobConfig
        case ("jobs", int(), "not_found_guard"):
            model = NotFoundGuard
        case _:
            return []
    hidden = _FILLED_IN.get(model, frozenset())
    return [name for name in model.model_fields if name not in hidden]
