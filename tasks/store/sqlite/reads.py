"""The SQLite store's reads: one record, a page of records, and the change log.

Each function runs on the store's connection thread (see ``connection.py``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ...records import State, TaskRecord
from ..protocol import Change
from ..search import Search, iso
from .fields import field
from .rows import COLUMNS, load

__all__ = ["changes", "get", "last_seq", "latest_change", "query"]


def get(conn: sqlite3.Connection, *, task_id: str) -> TaskRecord | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return load(*row) if row else None


def query(
    conn: sqlite3.Connection,
    *,
    state: State | None,
    name: str | None,
    limit: int,
    before: str | None,
    search: Search,
) -> list[TaskRecord]:
    """Records newest first, filtered as :meth:`~tasks.store.Store.query` says."""
    if search.hopeless:
        return []
    clauses: list[str] = []
    params: list[Any] = []
    if before is not None:  # a missing id compares with NULL: no rows
        clauses.append("rowid < (SELECT rowid FROM tasks WHERE id = ?)")
        params.append(before)
    if state is not None:
        clauses.append("state = ?")
        params.append(state.value)
    if name is not None:
        clauses.append("name = ?")
        params.append(name)
    _search(search, clauses, params)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {COLUMNS} FROM tasks {where} ORDER BY rowid DESC LIMIT ?"
    return [load(*row) for row in conn.execute(sql, (*params, limit))]


def _search(search: Search, clauses: list[str], params: list[Any]) -> None:
    """The clauses of :mod:`~tasks.store.search`'s filters; a damaged row matches none but
    the prefix."""
    if search.id_prefix is not None:
        end = search.prefix_end
        if end is None:
            clauses.append("substr(id, 1, ?) = ?")
            params += [len(search.id_prefix), search.id_prefix]
        else:  # a range of the index of ids (binary order is code point order)
            clauses.append("id >= ? AND id < ?")
            params += [search.id_prefix, end]
    if search.since is not None:
        clauses.append(f"{field('created_at')} >= ?")
        params.append(iso(search.since))
    if search.until is not None:
        clauses.append(f"{field('created_at')} < ?")
        params.append(iso(search.until))
    if search.text is not None:
        if search.plain:  # in the JSON as stored: no row without it is decoded
            clauses.append("instr(lower(data), lower(?)) > 0")
            params.append(search.text)
        clauses.append(
            f"(instr(lower({field('kwargs')}), lower(?)) > 0 "
            f"OR instr(lower({field('error.message')}), lower(?)) > 0)"
        )
        params += [search.text, search.text]


def changes(conn: sqlite3.Connection, *, after: int, limit: int) -> list[Change]:
    rows = conn.execute(
        f"SELECT seq, {COLUMNS} FROM tasks WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
    )
    return [Change(seq, load(*row)) for seq, *row in rows]


def latest_change(conn: sqlite3.Connection, *, task_id: str) -> Change | None:
    row = conn.execute(f"SELECT seq, {COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return None if row is None else Change(row[0], load(*row[1:]))


def last_seq(conn: sqlite3.Connection) -> int:
    value: int = conn.execute("SELECT coalesce(max(seq), 0) FROM tasks").fetchone()[0]
    return value
