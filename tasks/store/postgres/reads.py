"""The PostgreSQL store's listing of records: newest first, filtered as
:meth:`~tasks.store.RecordReader.query` says (see :mod:`~tasks.store.search`)."""

from __future__ import annotations

from typing import Any

from ...records import State
from ..search import Search, iso
from .fields import field
from .rows import COLUMNS

__all__ = ["query"]


def query(
    *, state: State | None, name: str | None, limit: int, before: str | None, search: Search
) -> tuple[str, tuple[Any, ...]]:
    """The statement, and its parameters, that reads the records."""
    clauses: list[str] = []
    params: list[Any] = []
    if before is not None:  # a missing id compares with NULL: no rows
        clauses.append("position < (SELECT position FROM quart_tasks WHERE id = %s)")
        params.append(before)
    if state is not None:
        clauses.append("state = %s")
        params.append(state.value)
    if name is not None:
        clauses.append("name = %s")
        params.append(name)
    _search(search, clauses, params)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {COLUMNS} FROM quart_tasks {where} ORDER BY position DESC LIMIT %s"
    return sql, (*params, limit)


def _search(search: Search, clauses: list[str], params: list[Any]) -> None:
    """The clauses of the search's filters; a damaged row matches none but the prefix."""
    if search.id_prefix is not None:
        clauses.append("starts_with(id, %s)")
        params.append(search.id_prefix)
    if search.since is not None:
        clauses.append(f'{field("created_at")} COLLATE "C" >= %s')
        params.append(iso(search.since))
    if search.until is not None:
        clauses.append(f'{field("created_at")} COLLATE "C" < %s')
        params.append(iso(search.until))
    if search.text is not None:
        if search.plain:  # in the JSON as stored: no row without it is decoded
            clauses.append("strpos(lower(data), lower(%s)) > 0")
            params.append(search.text)
        clauses.append(
            f"(strpos(lower({field('kwargs')}), lower(%s)) > 0 "
            f"OR strpos(lower({field('error,message')}), lower(%s)) > 0)"
        )
        params += [search.text, search.text]
