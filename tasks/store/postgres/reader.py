"""The reading half of :class:`~.store.PostgresStore`: every read takes a pooled connection
of its own, apart from the write in progress."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from ...records import State, TaskRecord
from ..protocol import Change, ScheduleMark
from ..search import Search
from ..stats import Stats
from ..windows import Window
from . import later, reads, stats
from .pool import Database
from .rows import COLUMNS, load, named

__all__ = ["PostgresReader"]


class PostgresReader:
    """The :class:`~tasks.store.RecordReader` methods, on the pool of ``database``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, task_id: str) -> TaskRecord | None:
        rows = await self._read(f"SELECT {COLUMNS} FROM quart_tasks WHERE id = %s", (task_id,))
        return load(*rows[0]) if rows else None

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
        if search.hopeless:
            return []
        sql, params = reads.query(state=state, name=name, limit=limit, before=before, search=search)
        return [load(*row) for row in await self._read(sql, params)]

    async def stats(self, *, since: datetime, until: datetime, bucket: float) -> Stats:
        return await stats.stats(self._read, Window.of(since, until, bucket))

    async def changes(self, after: int, limit: int = 100) -> list[Change]:
        rows = await self._read(
            f"SELECT seq, {COLUMNS} FROM quart_tasks WHERE seq > %s ORDER BY seq LIMIT %s",
            (after, limit),
        )
        return [Change(seq, load(*row)) for seq, *row in rows]

    async def latest_change(self, task_id: str) -> Change | None:
        rows = await self._read(
            f"SELECT greatest(seq, 0), {COLUMNS} FROM quart_tasks WHERE id = %s", (task_id,)
        )  # a row not numbered yet comes before every change
        return Change(rows[0][0], load(*rows[0][1:])) if rows else None

    async def last_seq(self) -> int:
        rows = await self._read("SELECT seq FROM quart_tasks_store", ())
        return int(rows[0][0])

    async def count(self, state: State) -> int:
        rows = await self._read("SELECT count(*) FROM quart_tasks WHERE state = %s", (state.value,))
        return int(rows[0][0])

    async def next_due(self, names: Collection[str] | None = None) -> datetime | None:
        only, named_params = named(names)
        rows = await self._read(
            f"SELECT min(run_at) FROM quart_tasks WHERE state = 'scheduled'{only}", named_params
        )
        earliest = rows[0][0]
        return None if earliest is None else datetime.fromtimestamp(earliest, UTC)

    async def count_by_name(self, state: State) -> dict[str, int]:
        rows = await self._read(
            "SELECT name, count(*) FROM quart_tasks WHERE state = %s GROUP BY name", (state.value,)
        )
        return {name: int(number) for name, number in rows}

    async def schedule_marks(self) -> list[ScheduleMark]:
        rows = await self._read(
            "SELECT name, last_tick, task_id FROM quart_tasks_schedules ORDER BY name", ()
        )
        return later.marks(rows)

    async def _read(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await self._database.fetch(sql, params)
