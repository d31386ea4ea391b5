"""Task stores: the :class:`Store` protocol and its implementations."""

from __future__ import annotations

from pathlib import Path

from .memory import MemoryStore
from .protocol import FINISHED_STATES, Change, Store
from .sqlite import SQLiteStore

__all__ = ["FINISHED_STATES", "Change", "MemoryStore", "SQLiteStore", "Store", "store_from_url"]


def store_from_url(url: str | Path, **options: object) -> Store:
    """Choose a store from a location.

    ``:memory:`` or ``memory://`` gives a :class:`MemoryStore`; ``sqlite:///path/to/file``
    or a plain file path gives a :class:`SQLiteStore`.
    """
    text = str(url)
    if text in {":memory:", "memory://"}:
        return MemoryStore()
    if text.startswith("sqlite:///"):
        return SQLiteStore(text.removeprefix("sqlite:///"), **options)  # type: ignore[arg-type]
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise ValueError(
            f"unsupported task store {scheme!r}: use ':memory:', 'sqlite:///path' or a file path"
        )
    return SQLiteStore(text, **options)  # type: ignore[arg-type]
