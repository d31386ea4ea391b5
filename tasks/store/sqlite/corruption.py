"""A corrupted SQLite file: once SQLite says so, the store refuses everything until restarted.

Corruption never heals. A store that only failed the operations which met a damaged page
would answer others, and health would go back and forth between failing and ok while the
file stays broken. So the first corruption error met on any connection (a read, a write, a
checkpoint, or :func:`quick_check`) marks the store corrupted for good; every later
operation raises :class:`~tasks.errors.StoreUnavailable` saying what to do.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from ...errors import StoreUnavailable

__all__ = ["Corruption", "is_corruption", "quick_check"]

log = logging.getLogger("tasks")

_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_MESSAGES = ("database disk image is malformed", "file is not a database")


def is_corruption(exc: BaseException) -> bool:
    """Whether SQLite reported the file damaged (``SQLITE_CORRUPT`` or ``SQLITE_NOTADB``)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _CODES:  # extended codes keep the primary low
        return True
    return any(message in str(exc) for message in _MESSAGES)


class Corruption:
    """Whether the store's file was found corrupted; set from any thread, never cleared."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: SQLite's error, once the file was found corrupted
        self.error: str | None = None

    def note(self, exc: BaseException) -> bool:
        """Mark the store corrupted if ``exc`` says the file is; True if it is (now or before)."""
        if self.error is None and is_corruption(exc):
            self.found(str(exc))
        return self.error is not None

    def found(self, error: str) -> None:
        if self.error is None:
            self.error = error
            log.critical(
                "%s (%s); every operation is refused until then", self.refusal(), self.path
            )

    def refusal(self) -> StoreUnavailable:
        """A new error for an operation refused because the file is corrupted (without the
        file's path, which answers to clients need not show; the log names it)."""
        return StoreUnavailable(
            f"the task store's SQLite file is corrupted ({self.error}): restore it from a "
            "backup (or move it aside: a new one starts empty), then restart"
        )


def quick_check(conn: sqlite3.Connection, corruption: Corruption) -> None:
    """Run ``PRAGMA quick_check``, which reads every page of the file (not the indexes'
    agreement with the tables); mark the store corrupted if it finds damage."""
    try:
        rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.DatabaseError as exc:
        if not corruption.note(exc):
            raise
        return
    if rows != [("ok",)]:
        report = str(rows[0][0]) if rows else "no answer"
        lines = [line for line in report.splitlines() if not line.startswith("***")]
        corruption.found(f"PRAGMA quick_check: {'; '.join(lines) or report}")
