"""What a write operation sees of its transaction, and batches sent as one query.

Operations (see ``batches.py``) run their statements on a :class:`Session`: a pooled
connection, or a :class:`Recorder` that only notes them. Most batches need no answer before
their last statement (inserts, updates, claims, hand-backs); recorded, such a batch goes to
the server as one query string, so that the server runs it from the counter lock to the
commit without waiting on this process. An operation that must read before it writes (a
cancel, a release of everything held) asks its cursor for rows while recording:
:class:`NeedsAnswers` is raised, and the batch runs statement by statement on the
connection instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from psycopg import pq

from .pool import Connection

__all__ = ["NeedsAnswers", "Recorder", "Rows", "Session", "send_all"]

Row = tuple[Any, ...]


class Rows(Protocol):
    """The rows a statement returned (a cursor's reading side)."""

    async def fetchone(self) -> Row | None: ...

    async def fetchall(self) -> list[Row]: ...


class Session(Protocol):
    """Where an operation runs its statements."""

    async def execute(self, query: str, params: Sequence[Any] | None = None) -> Rows: ...


class NeedsAnswers(Exception):
    """An operation read a statement's rows before the batch was sent."""


class _Recorded:
    """A recorded statement's rows, there once the batch has run."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[Row] | None = None

    async def fetchone(self) -> Row | None:
        rows = await self.fetchall()
        return rows[0] if rows else None

    async def fetchall(self) -> list[Row]:
        if self.rows is None:
            raise NeedsAnswers
        return self.rows


class Recorder:
    """Notes statements instead of running them; once the batch has been sent, runs any
    further statement (a read of the results) on the connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.statements: list[tuple[str, Sequence[Any] | None, _Recorded]] = []
        self.sent = False

    async def execute(self, query: str, params: Sequence[Any] | None = None) -> Rows:
        if self.sent:
            return await self._conn.execute(query, params)
        rows = _Recorded()
        self.statements.append((query, params, rows))
        return rows


async def send_all(conn: Connection, recorder: Recorder, first: str, last: Sequence[str]) -> None:
    """Run ``first``, the recorded statements, then ``last``, as one query: a single
    transaction, which commits or rolls back as a whole."""
    binder = psycopg.AsyncClientCursor(conn)
    text = [first]
    text += [binder.mogrify(query, params) for query, params, _ in recorder.statements]
    text += last
    async with conn.cursor() as cursor:
        await cursor.execute(";\n".join(text).encode())
        for _, _, recorded in recorder.statements:
            cursor.nextset()
            result = cursor.pgresult
            tuples = result is not None and result.status == pq.ExecStatus.TUPLES_OK
            recorded.rows = await cursor.fetchall() if tuples else []
    recorder.sent = True
