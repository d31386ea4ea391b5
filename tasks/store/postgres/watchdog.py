"""Telling a PostgreSQL server that stopped answering from a busy one, within seconds.

A server cut off by the network keeps its connections open: a statement sent to it waits for
an answer that does not come until TCP gives up, minutes later, and no single timeout tells
that wait from a long statement on a busy server. So the watchdog looks at the operations in
progress: once one has waited :data:`SUSPECT_AFTER` seconds, and nothing else has come back
from the server meanwhile (no other operation ended), it asks the server for ``SELECT 1`` on
a new connection of its own. A server that answers within
:data:`PING_TIMEOUT` is busy: its operations go on, each for up to
:data:`OPERATION_TIMEOUT`. One that does not is unreachable: every connection in use is
broken at once, and until a ping is answered again the store refuses new operations at once
(:attr:`Watchdog.unreachable`) rather than send them into the void.

A connection is broken by shutting its socket down, which fails the wait in progress at
once. Cancelling the wait instead would make psycopg send the server a cancel request and
wait for it to be confirmed: on a frozen network, ten seconds more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg

__all__ = ["OPERATION_TIMEOUT", "PING_TIMEOUT", "SUSPECT_AFTER", "Watch", "Watchdog"]

log = logging.getLogger("tasks")

#: seconds an operation may wait before the server is asked whether it still answers
SUSPECT_AFTER = 1.5
#: seconds the server has to answer that question (connecting included)
PING_TIMEOUT = 2.5
#: seconds one use of a connection may take even on a server that answers pings: a
#: connection stuck alone (a lock never granted, a connection lost on its own) counts as
#: the store failing past that
OPERATION_TIMEOUT = 15.0
#: seconds between two looks at the operations in progress
CHECK_EVERY = 0.5


class Watch:
    """One use of a connection, as the watchdog sees it."""

    __slots__ = ("broken", "conn", "since")

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.since = time.monotonic()
        #: why the watchdog broke the connection, once it has
        self.broken: str | None = None

    def cut(self, why: str) -> None:
        if self.broken is None:
            self.broken = why
            shut_down(self.conn)


class Watchdog:
    """Watches the uses of the connections to ``url``; ``answered`` is awaited each time the
    server answers again after it was found unreachable."""

    def __init__(self, url: str, where: str, answered: Callable[[], Awaitable[None]]) -> None:
        self._url = url
        self._where = where
        self._answered = answered
        self._watches: set[Watch] = set()
        self._task: asyncio.Task[None] | None = None
        self._pings: set[_Ping] = set()
        #: when the server last answered: an operation ended, or a ping
        self._heard = time.monotonic()
        #: why the store counts as unreachable, while it does; None while it answers
        self.unreachable: str | None = None

    @asynccontextmanager
    async def watching(self, conn: psycopg.AsyncConnection[Any]) -> AsyncIterator[Watch]:
        """Watch one use of ``conn``; a connection broken meanwhile is closed on exit, so
        that its pool does not hand it out again."""
        watch = Watch(conn)
        self._watches.add(watch)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())
        try:
            yield watch
        finally:
            self._watches.discard(watch)
            if watch.broken is not None:
                await conn.close()
        self._heard = time.monotonic()  # an operation that ended well: the server answers

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for ping in list(self._pings):
            ping.abandon()
        await asyncio.gather(*(ping.task for ping in self._pings), return_exceptions=True)

    async def _watch(self) -> None:
        while self._watches or self.unreachable is not None:
            await asyncio.sleep(CHECK_EVERY)
            now = time.monotonic()
            for watch in list(self._watches):
                if now - watch.since >= OPERATION_TIMEOUT:
                    watch.cut(f"did not answer within {OPERATION_TIMEOUT:g} s")
            # waiting this long, with no other answer from the server meanwhile
            silent = any(now - max(w.since, self._heard) >= SUSPECT_AFTER for w in self._watches)
            if silent or self.unreachable is not None:
                await self._check()

    async def _check(self) -> None:
        """Ping; break every connection in use if no answer comes."""
        error = await self._ping()
        if error is None:
            self._heard = time.monotonic()
            if self.unreachable is not None:
                log.warning("the PostgreSQL task store at %s answers again", self._where)
                self.unreachable = None
                try:
                    await self._answered()
                except Exception:
                    log.exception("renewing the connections to %s failed", self._where)
            return
        reason = f"(nor a check on a new connection: {error})"
        if self.unreachable is None:
            log.error("the PostgreSQL task store at %s does not answer %s", self._where, reason)
        self.unreachable = f"does not answer {reason}"
        for watch in list(self._watches):
            watch.cut(f"did not answer {reason}")

    async def _ping(self) -> str | None:
        """None if the server answers ``SELECT 1`` within :data:`PING_TIMEOUT`, else why not."""
        ping = _Ping(self._url)
        self._pings.add(ping)
        ping.task.add_done_callback(lambda _: self._pings.discard(ping))
        try:
            done, _ = await asyncio.wait({ping.task}, timeout=PING_TIMEOUT)
        finally:
            if not ping.task.done():
                ping.abandon()
        if ping.task in done:
            return ping.task.result()
        return f"no answer within {PING_TIMEOUT:g} s"


class _Ping:
    """One ``SELECT 1`` on a new connection, in a task of its own; abandoned, it ends by
    itself (its connection broken, or closed as soon as it opens)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._abandoned = False
        self.task = asyncio.get_running_loop().create_task(self._ask())

    def abandon(self) -> None:
        self._abandoned = True
        if self._conn is not None:
            shut_down(self._conn)

    async def _ask(self) -> str | None:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=max(2, int(PING_TIMEOUT))
            )
        except (psycopg.Error, OSError) as exc:
            return str(exc) or type(exc).__name__
        try:
            if self._abandoned:
                return "abandoned"
            self._conn = conn
            await conn.execute("SELECT 1")
        except (psycopg.Error, OSError) as exc:
            return str(exc) or type(exc).__name__
        finally:
            await conn.close()
        return None


def shut_down(conn: psycopg.AsyncConnection[Any]) -> None:
    """Break ``conn`` at once: its socket is shut down (not closed: libpq owns the file
    descriptor), so that a wait on it ends in an error rather than an answer."""
    with contextlib.suppress(psycopg.Error, OSError):
        descriptor = os.dup(conn.pgconn.socket)
        with socket.socket(fileno=descriptor) as sock:
            sock.shutdown(socket.SHUT_RDWR)
