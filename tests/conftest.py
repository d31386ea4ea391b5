from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from quart import Quart

from quart_app import create_app
from tasks import MemoryStore, Registry, SQLiteStore, Store
from tasks.store.postgres import PostgresStore
from tests.brokers import BrokerConfig, broker_config, rabbitmq_server, redis_server
from tests.harness import Served, app_with_registry, serving
from tests.postgres import fresh_database, server_url

AppFactory = Callable[..., Quart]

ServeFactory = Callable[..., AbstractAsyncContextManager[Served]]
RegistryAppFactory = Callable[..., Quart]

Invoke = Callable[..., Result]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (in pyproject.toml): two processes per core, eight at most. The server tier
    mostly waits on its child processes (tasks that sleep, servers that start and stop), and a
    second process per core fills that time; past eight, the PostgreSQL tests (up to ten
    connections each) would near a default server's limit of 100."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(2 * (cores or 1), 8)


#: The tiers in the order they run: the long child-process tests first, so that under ``-n``
#: the short in-process tests fill the gaps they leave instead of waiting behind them.
TIER_ORDER = ("server", "contract", "unit")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def tier(item: pytest.Item) -> int:
        parts = item.path.relative_to(Path(__file__).parent).parts
        return TIER_ORDER.index(parts[0]) if parts[0] in TIER_ORDER else len(TIER_ORDER)

    items.sort(key=tier)  # stable: the order within a tier stays


@pytest.fixture
def make_app(tmp_path: Path) -> AppFactory:
    """Build a fresh app per call, its SQLite store in the test's own folder."""

    def build(**config: Any) -> Quart:
        settings = {
            "TASKS_DATABASE": str(tmp_path / "tasks.sqlite3"),
            "EXPORTS_FOLDER": str(tmp_path / "exports"),  # not the checkout's instance folder
            "TESTING": True,
        }
        settings.update(config)
        return create_app(settings)

    return build


@pytest.fixture
def cli(make_app: AppFactory) -> Invoke:
    """Run ``quart tasks ARGS`` against a fresh app, as each shell command builds its own."""

    def invoke(*args: str, **config: Any) -> Result:
        app = make_app(**config)
        return app.test_cli_runner().invoke(args=["tasks", *args])

    return invoke


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """A PostgreSQL server that answers (the test skips, or fails in CI, without one)."""
    return server_url()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a new database of the test's own, dropped afterwards."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    """A Redis server that answers (the test skips, or fails in CI, without one)."""
    return redis_server()


@pytest.fixture(scope="session")
def rabbitmq_server_url() -> str:
    """A RabbitMQ server that answers (the test skips, or fails in CI, without one)."""
    return rabbitmq_server()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[BrokerConfig]:
    """Each broker in turn, with a stream or queue of the test's own, deleted afterwards."""
    with broker_config(request) as config:
        yield config


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each durable store in turn, as ``TASKS_DATABASE``: a file in the test's own folder,
    or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return str(tmp_path / "tasks.sqlite3")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each store implementation in turn, open, in the test's own folder or database."""
    store: Store
    if request.param == "memory":
        store = MemoryStore()
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / "t.db")
    else:
        store = PostgresStore(request.getfixturevalue("postgres_url"))
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def make_registry_app(tmp_path: Path) -> RegistryAppFactory:
    """``make_registry_app(registry, store=None, **config)``: the API over the test's own tasks."""

    def build(registry: Registry, *, store: Store | None = None, **config: Any) -> Quart:
        config.setdefault("TASKS_DATABASE", str(tmp_path / "tasks.sqlite3"))
        return app_with_registry(registry, store=store, **config)

    return build


@pytest.fixture
def serve(make_app: AppFactory) -> ServeFactory:
    """``async with serve(**config) as api``: a fresh app started with ``app.test_app()``."""

    def start(**config: Any) -> AbstractAsyncContextManager[Served]:
        # Bounds teardown if a test fails with a task still running (test_app waits 6 s at most).
        config.setdefault("BACKGROUND_TASK_SHUTDOWN_TIMEOUT", 2)
        return serving(make_app(**config))

    return start


@pytest.fixture
async def api(serve: ServeFactory) -> AsyncIterator[Served]:
    """The app with its default settings, started, and a test client for it."""
    async with serve() as served:
        yield served
