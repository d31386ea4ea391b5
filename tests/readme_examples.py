"""Code blocks of the README and the documentation site marked ``<!-- example: NAME -->``,
written out to run as a user would."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pages() -> list[Path]:
    """The README and every page of the documentation site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def example(name: str) -> str:
    """The code block that follows ``<!-- example: NAME -->`` on one page."""
    pattern = rf"<!-- example: {re.escape(name)} -->\n```python\n(.*?)\n```"
    found = [m.group(1) for page in pages() for m in re.finditer(pattern, page.read_text(), re.S)]
    assert len(found) == 1, f"{len(found)} examples named {name!r} in README.md and docs/"
    return found[0] + "\n"


def write_own_app(folder: Path) -> Path:
    """The own-app example as ``myapp.py`` (and its test) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "myapp.py").write_text(example("own-app"))
    (folder / "test_myapp.py").write_text(example("own-app-test"))
    return folder


def write_periodic_app(folder: Path) -> Path:
    """The periodic-app example as ``clock.py`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clock.py").write_text(example("periodic-app"))
    return folder


def write_workflow_app(folder: Path) -> Path:
    """The workflow-app example as ``shop.py`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.py").write_text(example("workflow-app"))
    return folder
