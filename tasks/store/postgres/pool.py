"""The connection pool of the PostgreSQL store, and what its errors mean to callers.

A database that cannot be reached, or a pool with no connection free in time, becomes
:class:`~tasks.errors.StoreUnavailable` (an HTTP 503), never a bare driver error. The schema
is checked when the store opens; if the database is down then, on first use instead, so that
a server can start before its database does. A server that stops answering without closing
its connections (a network cut) is found out within seconds by the :mod:`.watchdog`; while
it does not answer, operations are refused at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ...errors import StoreUnavailable
from ..locations import redact
from .watchdog import Watch, Watchdog

__all__ = ["Connection", "Database"]

log = logging.getLogger("tasks")

Connection = psycopg.AsyncConnection[tuple[Any, ...]]
Prepare = Callable[[Connection], Awaitable[None]]
T = TypeVar("T")

RECONNECT_TIMEOUT = 5.0  # seconds


class Database:
    """A pool of at most ``pool_size`` connections to ``url``, opened with the store."""

    def __init__(
        self, url: str, *, pool_size: int, acquire_timeout: float, prepare: Prepare
    ) -> None:
        self.url = url
        self.where = redact(url)
        self._prepare = prepare
        self._prepared = False
        self._preparing = asyncio.Lock()
        self._acquire_timeout = acquire_timeout
        self._apart: set[asyncio.Task[Any]] = set()  # operations their callers left
        self._watchdog = Watchdog(url, self.where, answered=self._answered)
        self._pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            url,
            min_size=min(2, pool_size),
            max_size=pool_size,
            open=False,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(acquire_timeout))},
            # give a lost server's connections up soon: the pool then connects again on
            # demand, instead of backing off (doubling) for as long as the outage lasts
            reconnect_timeout=RECONNECT_TIMEOUT,
            name="tasks",
        )

    async def open(self) -> None:
        await self._pool.open(wait=False)
        try:
            await self._ensure_prepared()
        except StoreUnavailable as exc:
            log.warning("%s; serving anyway, the store is checked again on first use", exc)
        except BaseException:  # a schema this code must not touch, or a cancelled start
            await self._pool.close()
            raise

    async def close(self) -> None:
        try:  # each ends within the watchdog's bounds
            await asyncio.gather(*self._apart, return_exceptions=True)
        finally:
            await self._watchdog.close()
            await self._pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection (autocommit: open a transaction for several statements),
        watched by the :mod:`.watchdog`; refused at once while the server does not answer."""
        if self._watchdog.unreachable is not None:
            raise self._unavailable(self._watchdog.unreachable)
        await self._ensure_prepared()
        async with self._watched() as conn:
            yield conn

    async def run(self, use: Callable[[Connection], Awaitable[T]]) -> T:
        """``use`` on a pooled connection, in a task of its own: a caller cancelled meanwhile
        (a client gone, a timeout of its own) leaves at once, and the operation ends by
        itself, within the watchdog's bounds. Cancelling it would make psycopg ask the
        server to cancel it and wait for the answer: on a frozen network, seconds more."""

        async def apart() -> T:
            async with self.connection() as conn:
                return await use(conn)

        task = asyncio.get_running_loop().create_task(apart())
        self._apart.add(task)
        task.add_done_callback(_forget(self._apart))
        return await asyncio.shield(task)

    async def fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """The rows of one statement, read as :meth:`run` does."""

        async def read(conn: Connection) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()

        return await self.run(read)

    async def _ensure_prepared(self) -> None:
        if self._prepared:
            return
        async with self._preparing:
            if self._prepared:
                return
            async with self._watched() as conn:
                await self._prepare(conn)
            self._prepared = True

    async def _answered(self) -> None:
        """The server answers again: replace the connections idle since before it stopped,
        which may have been lost with it."""
        await self._pool.drain()

    def _unavailable(self, reason: str) -> StoreUnavailable:
        return StoreUnavailable(
            f"the PostgreSQL task store at {self.where} {reason}; retry shortly"
        )

    @asynccontextmanager
    async def _watched(self) -> AsyncIterator[Connection]:
        watch: Watch | None = None
        try:
            async with (
                self._pool.connection(self._acquire_timeout) as conn,
                self._watchdog.watching(conn) as watch,
            ):
                yield conn
        except PoolTimeout as exc:
            raise StoreUnavailable(
                f"no connection to the PostgreSQL task store at {self.where} within "
                f"{self._acquire_timeout} s ({exc}); retry shortly"
            ) from exc
        except psycopg.Error as exc:
            if watch is not None and watch.broken is not None:  # broken by the watchdog
                raise self._unavailable(watch.broken) from exc
            if not isinstance(exc, psycopg.OperationalError):
                raise
            raise StoreUnavailable(
                f"the PostgreSQL task store at {self.where} is unavailable ({exc}); retry shortly"
            ) from exc


def _forget(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    """A done callback: drop the task, and take its outcome, which nobody may await."""

    def forget(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()

    return forget
