from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from quart_app import create_app
from tasks import MemoryStore, SQLiteStore, Store

AppFactory = Callable[..., Quart]


@pytest.fixture
def make_app(tmp_path: Path) -> AppFactory:
    """Build a fresh app per call, its SQLite store in the test's own folder."""

    def build(**config: Any) -> Quart:
        settings = {"TASKS_DATABASE": str(tmp_path / "tasks.sqlite3"), "TESTING": True}
        settings.update(config)
        return create_app(settings)

    return build


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each store implementation in turn, open, in the test's own folder."""
    store: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "t.db")
    await store.open()
    yield store
    await store.close()
