"""The reading part of :class:`~.store.SQLiteStore`: every read runs on the store's
connection thread (``connection.py``), its SQL in ``reads.py``, ``later.py`` and
``stats.py``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from datetime import datetime
from functools import partial
from typing import TypeVar

from ...records import State, TaskRecord
from ..protocol import Change, ScheduleMark
from ..search import Search
from ..stats import Stats
from ..windows import Window
from . import later, reads, stats
from .connection import ConnectionThread

__all__ = ["ReadsOnThread"]

T = TypeVar("T")


class ReadsOnThread:
    """The reads of :class:`~tasks.store.RecordReader`, on ``_connection``'s thread."""

    _connection: ConnectionThread

    async def get(self, task_id: str) -> TaskRecord | None:
        return await self._read(partial(reads.get, task_id=task_id))

    async def query(
        self,
        *,
        state: State | None = None,
        name: str | None = None,
        limit: int = 100,
        before: str | None = None,
        id_prefix: str | None = None,
        text: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[TaskRecord]:
        search = Search.of(id_prefix=id_prefix, text=text, since=since, until=until)
        return await self._read(
            partial(reads.query, state=state, name=name, limit=limit, before=before, search=search)
        )

    async def stats(self, *, since: datetime, until: datetime, bucket: float) -> Stats:
        return await self._read(partial(stats.stats, window=Window.of(since, until, bucket)))

    async def changes(self, after: int, limit: int = 100) -> list[Change]:
        return await self._read(partial(reads.changes, after=after, limit=limit))

    async def latest_change(self, task_id: str) -> Change | None:
        return await self._read(partial(reads.latest_change, task_id=task_id))

    async def last_seq(self) -> int:
        return await self._read(reads.last_seq)

    async def count(self, state: State) -> int:
        return await self._read(partial(later.count, state=state))

    async def next_due(self, names: Collection[str] | None = None) -> datetime | None:
        return await self._read(partial(later.next_due, names=names))

    async def count_by_name(self, state: State) -> dict[str, int]:
        return await self._read(partial(later.count_by_name, state=state))

    async def schedule_marks(self) -> list[ScheduleMark]:
        return await self._read(later.schedule_marks)

    async def _read(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self._connection.run(operation)
        return result
