"""A PostgreSQL server for the tests: a fresh database per test, dropped afterwards.

The server is ``TASKS_TEST_POSTGRES_URL`` (default: user postgres on 127.0.0.1:5432). Where
none answers, PostgreSQL tests skip with the reason; in CI (``CI`` set) they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    """The server to create test databases on, checked to answer; skips (fails in CI) if not."""
    url = os.environ.get("TASKS_TEST_POSTGRES_URL") or DEFAULT_URL
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        reason = f"no PostgreSQL server answers at {url} (set TASKS_TEST_POSTGRES_URL): {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must provide one (.ci/run)")
        pytest.skip(reason)
    return url


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """The URL of a new, empty database on ``server``; dropped on exit."""
    name = f"tasks_test_{uuid.uuid4().hex[:12]}"
    identifier = sql.Identifier(name)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(identifier))
    try:
        yield with_database(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))
