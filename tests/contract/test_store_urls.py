"""A store URL chooses the store, in the app's settings and on the command line, on each
durable store: a SQLite file and a PostgreSQL database."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from quart import Quart

from quart_app import create_app
from tasks import Tasks
from tasks.store.postgres import PostgresStore
from tests.conftest import Invoke


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No QUART_* variable of the outer environment leaks in; the tasks log level is restored."""
    for key in [key for key in os.environ if key.startswith("QUART_")]:
        monkeypatch.delenv(key)
    level = logging.getLogger("tasks").level
    yield
    logging.getLogger("tasks").setLevel(level)


def extension(app: Quart) -> Tasks:
    tasks: Tasks = app.extensions["tasks"]
    return tasks


def test_run_wait_then_list_on_each_durable_store(cli: Invoke, database_url: str) -> None:
    result = cli("run", "count", "n=3", "interval=0", "--wait", TASKS_DATABASE=database_url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "3\n"

    listed = cli("list", TASKS_DATABASE=database_url)
    assert listed.exit_code == 0, listed.output
    (row,) = listed.stdout.splitlines()[1:]
    assert row.split()[1:3] == ["count", "succeeded"]


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_a_postgres_url_selects_the_postgres_store(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str, scheme: str
) -> None:
    url = postgres_url.replace("postgresql://", f"{scheme}://", 1)
    monkeypatch.setenv("QUART_TASKS_DATABASE", url)
    monkeypatch.setenv("QUART_TASKS_POSTGRES_POOL_SIZE", "3")
    app = create_app()

    async with app.test_app():
        store = extension(app).runner.store
        assert isinstance(store, PostgresStore)
        assert store.url == url
