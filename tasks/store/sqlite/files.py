"""Opening the SQLite file: connection settings, and switching a new file to WAL mode."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

__all__ = ["open_file", "set_wal"]


def open_file(
    path: Path, *, timeout: float, synchronous: str, autocheckpoint: bool = True
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), for one thread."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=True)
    conn.execute(f"PRAGMA synchronous={synchronous}")
    if not autocheckpoint:
        conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def set_wal(conn: sqlite3.Connection, *, deadline: float) -> None:
    """Switch the file to WAL mode. When several processes open a new file at once, the
    switch can answer "database is locked" without waiting on the busy timeout: retry."""
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)  # another process holds the lock for a moment; nothing to wait on
