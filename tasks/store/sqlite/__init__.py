"""The SQLite store: one file in WAL mode, written on the event loop and one thread."""

from .store import SQLiteStore

__all__ = ["SQLiteStore"]
