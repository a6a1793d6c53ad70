"""Every test the README cites as proof exists: a stale path proves nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITED = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def test_every_cited_test_file_and_function_exists() -> None:
    cited = CITED.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(cited) >= 10
    missing = [
        f"{path}::{name}" if name else path
        for path, name in cited
        if not (ROOT / path).is_file()
        or (name and f"def {name}(" not in (ROOT / path).read_text(encoding="utf-8"))
    ]
    assert missing == []


MODULE_PATH = re.compile(r"`(runner/[\w/]+(?:\.py|\.sql|/))`")


def test_every_cited_module_path_exists() -> None:
    """A file or folder of runner/ the README or docs/ names is where they say."""
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    cited = {path for text in texts for path in MODULE_PATH.findall(text.read_text("utf-8"))}
    assert "runner/testing/" in cited and len(cited) >= 5
    assert sorted(path for path in cited if not (ROOT / path).exists()) == []
