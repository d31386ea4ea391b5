"""The connection pool of the PostgreSQL store, and what its errors mean to callers.

A database that cannot be reached, or a pool with no connection free in time, becomes
:class:`~tasks.errors.StoreUnavailable` (an HTTP 503), never a bare driver error. The schema
is checked when the store opens; if the database is down then, on first use instead, so that
a server can start before its database does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ...errors import StoreUnavailable
from ..locations import redact

__all__ = ["Connection", "Database"]

log = logging.getLogger("tasks")

Connection = psycopg.AsyncConnection[tuple[Any, ...]]
Prepare = Callable[[Connection], Awaitable[None]]

RECONNECT_TIMEOUT = 5.0  # seconds
#: seconds one use of a connection (a transaction, a read) may take before it counts as the
#: store failing: a server that stops answering without closing its connections (a network
#: cut) would otherwise hold the caller until TCP gives up, minutes later
OPERATION_TIMEOUT = 15.0


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
        await self._pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection (autocommit: open a transaction for several statements),
        for at most :data:`OPERATION_TIMEOUT` seconds."""
        await self._ensure_prepared()
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                async with self._translated(), self._pool.connection(self._acquire_timeout) as c:
                    yield c
        except TimeoutError as exc:
            raise StoreUnavailable(
                f"the PostgreSQL task store at {self.where} did not answer within "
                f"{OPERATION_TIMEOUT:g} s; retry shortly"
            ) from exc

    async def _ensure_prepared(self) -> None:
        if self._prepared:
            return
        async with self._preparing:
            if self._prepared:
                return
            async with self._translated(), self._pool.connection(self._acquire_timeout) as conn:
                await self._prepare(conn)
            self._prepared = True

    @asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        try:
            yield
        except PoolTimeout as exc:
            raise StoreUnavailable(
                f"no connection to the PostgreSQL task store at {self.where} within "
                f"{self._acquire_timeout} s ({exc}); retry shortly"
            ) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"the PostgreSQL task store at {self.where} is unavailable ({exc}); retry shortly"
            ) from exc
