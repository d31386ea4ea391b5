"""The listing of :class:`~tasks.store.MemoryStore`: its records newest first, filtered as
:meth:`~tasks.store.RecordReader.query` says (see :mod:`.search`)."""

from __future__ import annotations

from collections.abc import Callable

from .. import codec
from ..records import State, TaskRecord
from .search import Search

__all__ = ["query"]


def query(
    records: dict[str, TaskRecord],
    *,
    state: State | None,
    name: str | None,
    limit: int,
    before: str | None,
    search: Search,
) -> list[TaskRecord]:
    """Up to ``limit`` of ``records`` (in creation order) that match, newest first."""
    found: list[TaskRecord] = []
    if search.hopeless:
        return found
    newest_first = iter(reversed(records.values()))
    if before is not None:
        if before not in records:
            return found
        for record in newest_first:
            if record.id == before:
                break
    matches = _matcher(state, name, search)
    for record in newest_first:
        if len(found) >= limit:
            break
        if matches(record):
            found.append(record)
    return found


def _matcher(state: State | None, name: str | None, search: Search) -> Callable[[TaskRecord], bool]:
    prefix, since, until = search.id_prefix, search.since, search.until
    text = search.text.lower() if search.text is not None else None

    def matches(record: TaskRecord) -> bool:
        return (
            (state is None or record.state is state)
            and (name is None or record.name == name)
            and (prefix is None or record.id.startswith(prefix))
            and (since is None or record.created_at >= since)
            and (until is None or record.created_at < until)
            and (text is None or _holds(record, text))
        )

    return matches


def _holds(record: TaskRecord, text: str) -> bool:
    """Whether the arguments as stored, or the error message, hold ``text`` (lower case)."""
    if text in codec.dumps(record.kwargs).lower():
        return True
    return record.error is not None and text in record.error.message.lower()
