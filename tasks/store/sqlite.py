"""The embedded default store: one SQLite file in WAL mode, shared by every worker process.

The SQL lives here; ``connection.py`` runs it on a thread of its own, batching writes into
shared transactions, so that no call blocks the event loop.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..records import State, TaskRecord
from .connection import ConnectionThread, Operation
from .protocol import Change

__all__ = ["SQLiteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    state            TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    owner            TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    data             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state);
CREATE INDEX IF NOT EXISTS tasks_by_name ON tasks (name);
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (owner);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_by_seq ON tasks (seq);
CREATE TABLE IF NOT EXISTS owners (
    owner       TEXT PRIMARY KEY,
    lease_until REAL NOT NULL
);
"""

_LIVE = "('queued', 'running')"
_COLUMNS = "data, owner, cancel_requested"


class SQLiteStore:
    """Task records in a SQLite database file (WAL mode), written through one thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = 10.0,
        max_batch: int = 1000,
    ) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._busy_timeout = busy_timeout
        self._next_seq = 0  # touched by the connection thread only
        self._connection = ConnectionThread(
            self._connect,
            name=f"tasks-sqlite:{self.path.name}",
            max_batch=max_batch,
            on_write_batch=self._reset_seq,
        )

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._connection.start()

    async def close(self) -> None:
        await self._connection.stop()

    async def create(self, record: TaskRecord, *, owner: str | None, lease: float) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            data = _dump(record)
            if owner is not None:
                _hold_lease(conn, owner, lease)
            try:
                conn.execute(
                    "INSERT INTO tasks (id, name, state, seq, owner, data) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (record.id, record.name, record.state.value, self._take_seq(conn), owner, data),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"a task with id {record.id!r} already exists") from None

        # single: if the insert fails, the lease renewal before it may stay, which is harmless
        await self._run(insert, write=True, single=True)

    async def update(self, record: TaskRecord, *, owner: str) -> bool:
        def replace(conn: sqlite3.Connection) -> bool:
            holder = None if record.state.terminal else owner
            cursor = conn.execute(
                "UPDATE tasks SET state = ?, seq = ?, owner = ?, data = ? "
                "WHERE id = ? AND owner = ?",
                (record.state.value, self._take_seq(conn), holder, _dump(record), record.id, owner),
            )
            return cursor.rowcount == 1

        result: bool = await self._run(replace, write=True, single=True)
        return result

    async def renew(self, owner: str, lease: float) -> list[str]:
        def extend(conn: sqlite3.Connection) -> list[str]:
            _hold_lease(conn, owner, lease)
            rows = conn.execute(
                f"SELECT id FROM tasks WHERE owner = ? AND cancel_requested AND state IN {_LIVE}",
                (owner,),
            )
            return [row[0] for row in rows]

        result: list[str] = await self._run(extend, write=True)
        return result

    async def claim(
        self, owner: str, lease: float, *, limit: int, is_dead: Callable[[str], bool]
    ) -> list[TaskRecord]:
        def take(conn: sqlite3.Connection) -> list[TaskRecord]:
            now = time.time()
            _hold_lease(conn, owner, lease)
            holders = conn.execute(
                f"SELECT DISTINCT t.owner, coalesce(o.lease_until, 0) FROM tasks t "
                f"LEFT JOIN owners o ON o.owner = t.owner "
                f"WHERE t.state IN {_LIVE} AND t.owner IS NOT NULL AND t.owner != ?",
                (owner,),
            ).fetchall()
            gone = [holder for holder, until in holders if until < now or is_dead(holder)]
            marks = ", ".join("?" * len(gone))
            rows = conn.execute(
                f"SELECT id, {_COLUMNS} FROM tasks WHERE state IN {_LIVE} "
                f"AND (owner IS NULL OR owner IN ({marks})) ORDER BY rowid LIMIT ?",
                (*gone, limit),
            ).fetchall()
            claimed = []
            for task_id, data, _, flagged in rows:
                conn.execute(
                    "UPDATE tasks SET owner = ?, seq = ? WHERE id = ?",
                    (owner, self._take_seq(conn), task_id),
                )
                claimed.append(_load(data, owner, flagged))
            for holder in gone:
                conn.execute("DELETE FROM owners WHERE owner = ?", (holder,))
            return claimed

        result: list[TaskRecord] = await self._run(take, write=True)
        return result

    async def release(self, owner: str, *, keep: frozenset[str] = frozenset()) -> int:
        def let_go(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                f"SELECT id FROM tasks WHERE owner = ? AND state IN {_LIVE}", (owner,)
            ).fetchall()
            released = [task_id for (task_id,) in rows if task_id not in keep]
            for task_id in released:
                conn.execute(
                    "UPDATE tasks SET owner = NULL, seq = ? WHERE id = ?",
                    (self._take_seq(conn), task_id),
                )
            if not keep:
                conn.execute("DELETE FROM owners WHERE owner = ?", (owner,))
            return len(released)

        result: int = await self._run(let_go, write=True)
        return result

    async def request_cancel(self, task_id: str) -> TaskRecord | None:
        def flag(conn: sqlite3.Connection) -> TaskRecord | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                return None
            record = _load(*row)
            if record.state.terminal:
                return record
            if record.state is State.QUEUED and record.owner is None:
                record = record.finished(State.CANCELLED)
            conn.execute(
                "UPDATE tasks SET state = ?, seq = ?, cancel_requested = 1, data = ? WHERE id = ?",
                (record.state.value, self._take_seq(conn), _dump(record), task_id),
            )
            return record.replace(cancel_requested=True)

        result: TaskRecord | None = await self._run(flag, write=True)
        return result

    async def get(self, task_id: str) -> TaskRecord | None:
        def select(conn: sqlite3.Connection) -> TaskRecord | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
            return _load(*row) if row else None

        result: TaskRecord | None = await self._run(select)
        return result

    async def query(
        self,
        *,
        state: State | None = None,
        name: str | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[TaskRecord]:
        clauses, params = [], []
        if before is not None:  # a missing id compares with NULL: no rows
            clauses.append("rowid < (SELECT rowid FROM tasks WHERE id = ?)")
            params.append(before)
        if state is not None:
            clauses.append("state = ?")
            params.append(state.value)
        if name is not None:
            clauses.append("name = ?")
            params.append(name)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {_COLUMNS} FROM tasks {where} ORDER BY rowid DESC LIMIT ?"

        def select(conn: sqlite3.Connection) -> list[TaskRecord]:
            return [_load(*row) for row in conn.execute(sql, (*params, limit))]

        result: list[TaskRecord] = await self._run(select)
        return result

    async def changes(self, after: int, limit: int = 100) -> list[Change]:
        def select(conn: sqlite3.Connection) -> list[Change]:
            rows = conn.execute(
                f"SELECT seq, {_COLUMNS} FROM tasks WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
            return [Change(seq, _load(*row)) for seq, *row in rows]

        result: list[Change] = await self._run(select)
        return result

    async def last_seq(self) -> int:
        def select(conn: sqlite3.Connection) -> int:
            value: int = conn.execute("SELECT coalesce(max(seq), 0) FROM tasks").fetchone()[0]
            return value

        result: int = await self._run(select)
        return result

    # -- on the connection thread -------------------------------------------------------

    async def _run(self, operation: Operation, *, write: bool = False, single: bool = False) -> Any:
        return await self._connection.run(operation, write=write, single=single)

    def _take_seq(self, conn: sqlite3.Connection) -> int:
        """The next store-wide sequence number; exact because writes hold the database lock."""
        if self._next_seq == 0:
            self._next_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM tasks").fetchone()[0]
        self._next_seq += 1
        return self._next_seq

    def _reset_seq(self) -> None:
        self._next_seq = 0  # another process may have written since the last batch

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=True
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.executescript(_SCHEMA)
        return conn


def _hold_lease(conn: sqlite3.Connection, owner: str, lease: float) -> None:
    conn.execute(
        "INSERT INTO owners (owner, lease_until) VALUES (?, ?) "
        "ON CONFLICT (owner) DO UPDATE SET lease_until = excluded.lease_until",
        (owner, time.time() + lease),
    )


def _dump(record: TaskRecord) -> str:
    data = record.to_dict()
    del data["owner"], data["cancel_requested"]  # kept in their own columns
    return json.dumps(data, separators=(",", ":"))


def _load(data: str, owner: str | None, cancel_requested: int) -> TaskRecord:
    return TaskRecord.from_dict(json.loads(data)).replace(
        owner=owner, cancel_requested=bool(cancel_requested)
    )
