"""Task stores: the :class:`Store` protocol and its optional capabilities (``protocol.py``),
its implementations, and :func:`store_from_url`, which chooses one by its URL scheme."""

from __future__ import annotations

from pathlib import Path

from .memory import MemoryStore
from .protocol import (
    FINISHED_STATES,
    AnnouncesPauses,
    AnnouncesWork,
    Change,
    ChangeNotifier,
    ProcessLocal,
    QueuesWrites,
    RecordReader,
    ScheduleMark,
    Store,
    WritesInTransaction,
)
from .record_json import is_damaged
from .sqlite.store import SQLiteStore

__all__ = [
    "FINISHED_STATES",
    "AnnouncesPauses",
    "AnnouncesWork",
    "Change",
    "ChangeNotifier",
    "MemoryStore",
    "ProcessLocal",
    "QueuesWrites",
    "RecordReader",
    "SQLiteStore",
    "ScheduleMark",
    "Store",
    "WritesInTransaction",
    "is_damaged",
    "store_from_url",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_POSTGRES_EXTRA = (
    "a PostgreSQL task store needs the 'postgres' extra, which is not installed "
    "(no module named {module!r}): install quart-tracked-tasks with it, as "
    "pip install -e '.[postgres]' in its clone"
)


def store_from_url(url: str | Path, **options: object) -> Store:
    """Choose a store from a location.

    ``:memory:`` or ``memory://`` gives a :class:`MemoryStore`; ``sqlite:///path/to/file``
    or a plain file path gives a :class:`SQLiteStore`; ``postgresql://…`` (or
    ``postgres://…``) a :class:`~tasks.store.postgres.PostgresStore`, which needs the
    ``postgres`` extra. Options go to the chosen store; ``synchronous`` applies to SQLite
    only, ``pool_size`` to PostgreSQL only.
    """
    text = str(url)
    if text in {":memory:", "memory://"}:
        return MemoryStore()
    if text.startswith(POSTGRES_SCHEMES):
        return _postgres(text, pool_size=options.get("pool_size"))
    options.pop("pool_size", None)
    if text.startswith("sqlite:///"):
        return SQLiteStore(text.removeprefix("sqlite:///"), **options)  # type: ignore[arg-type]
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise ValueError(
            f"unsupported task store {scheme!r}: use ':memory:', 'sqlite:///path', "
            f"'postgresql://user@host/db' or a file path"
        )
    return SQLiteStore(text, **options)  # type: ignore[arg-type]


def _postgres(url: str, *, pool_size: object) -> Store:
    try:
        from .postgres import PostgresStore
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith(("psycopg", "psycopg_pool")):
            raise
        raise ValueError(_POSTGRES_EXTRA.format(module=exc.name)) from None
    if pool_size is None:
        return PostgresStore(url)
    if not isinstance(pool_size, int):
        raise TypeError(f"pool_size must be an int, not {pool_size!r}")
    return PostgresStore(url, pool_size=pool_size)
