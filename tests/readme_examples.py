"""README code blocks marked ``<!-- example: NAME -->``, written out to run as a user would."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def example(name: str) -> str:
    """The code block that follows ``<!-- example: NAME -->`` in the README."""
    readme = (ROOT / "README.md").read_text()
    pattern = rf"<!-- example: {re.escape(name)} -->\n```python\n(.*?)\n```"
    found = re.search(pattern, readme, re.DOTALL)
    assert found is not None, f"README.md has no example named {name!r}"
    return found.group(1) + "\n"


def write_own_app(folder: Path) -> Path:
    """The README's own-app example as ``myapp.py`` (and its test) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "myapp.py").write_text(example("own-app"))
    (folder / "test_myapp.py").write_text(example("own-app-test"))
    return folder


def write_periodic_app(folder: Path) -> Path:
    """The README's periodic-app example as ``clock.py`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clock.py").write_text(example("periodic-app"))
    return folder
