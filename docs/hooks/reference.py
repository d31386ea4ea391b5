"""MkDocs hooks: the reference pages that are generated from the code at build time.

A page marks where a generated part goes with an HTML comment: ``<!-- settings -->`` (every
``TASKS_*`` setting, from :class:`tasks.Settings`) and ``<!-- http-api -->`` (every route,
from the example app's own OpenAPI description). The Python reference (mkdocstrings) shows
the docstrings' Sphinx cross-references as plain names.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from tasks.app import settings as settings_module
from tasks.app.settings import ENV_PREFIX, Settings, config_key

ROOT = Path(__file__).resolve().parents[2]


def on_page_markdown(markdown: str, **_: Any) -> str:
    if "<!-- settings -->" in markdown:
        markdown = markdown.replace("<!-- settings -->", settings_table())
    if "<!-- http-api -->" in markdown:
        markdown = markdown.replace("<!-- http-api -->", http_api())
    return markdown


#: a Sphinx cross-reference in a docstring, as the page renders it: ``:class:`~tasks.X```
SPHINX_ROLE = re.compile(r":(?:class|meth|mod|func|attr|data|exc|obj):<code>(~?)([^<]+)</code>")


def on_page_content(html: str, **_: Any) -> str:
    """Docstrings name things as Sphinx does; show each name as code, the last part only
    where the reference starts with ``~``."""
    return SPHINX_ROLE.sub(_name, html)


def _name(found: re.Match[str]) -> str:
    short, target = found.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def settings_table() -> str:
    """One row per field of ``Settings``: its key, variable, default and ``#:`` comment."""
    comments = _field_comments(inspect.getsource(settings_module))
    rows = ["| key | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        key = config_key(name)
        default = field.default
        shown = " ".join(default) if isinstance(default, tuple) else json.dumps(default)
        meaning = comments.get(name, "").replace("|", "\\|")
        rows.append(f"| `{key}` | `{ENV_PREFIX}{key}` | `{shown}` | {meaning} |")
    return "\n".join(rows)


def _field_comments(source: str) -> dict[str, str]:
    """The ``#:`` comment lines above each annotated field of the ``Settings`` class."""
    lines = source.splitlines()
    tree = ast.parse(source)
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == "Settings"):
            continue
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                above: list[str] = []
                row = item.lineno - 2
                while row >= 0 and lines[row].strip().startswith("#:"):
                    above.insert(0, lines[row].strip().removeprefix("#:").strip())
                    row -= 1
                found[item.target.id] = " ".join(above)
    return found


def http_api() -> str:
    """Each route of the example app's API: method, path, summary and answers."""
    sys.path.insert(0, str(ROOT))  # the example app runs from the clone; it is not installed
    from quart_app import create_app
    from tasks.web.openapi import describe

    async def described() -> dict[str, Any]:
        app = create_app({"TASKS_DATABASE": ":memory:"})
        async with app.test_request_context("/"):
            return describe()

    document = asyncio.run(described())
    parts: list[str] = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            parts.append(f"### `{method.upper()} {path}`\n")
            if operation.get("summary"):
                parts.append(f"{operation['summary']}\n")
            if operation.get("description"):
                parts.append(f"{operation['description']}\n")
            answers = operation.get("responses", {})
            if answers:
                parts.append("| status | meaning |\n| --- | --- |")
                for status, answer in answers.items():
                    text = str(answer.get("description", "")).replace("\n", " ")
                    text = text.replace("|", "\\|")
                    parts.append(f"| `{status}` | {text} |")
                parts.append("")
    return "\n".join(parts)
