"""The one interface every task store implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..records import State, TaskRecord

__all__ = ["Change", "Store"]


@dataclass(frozen=True, slots=True)
class Change:
    """A record as it was written, with the store-wide sequence number of that write."""

    seq: int
    record: TaskRecord


@runtime_checkable
class Store(Protocol):
    """Where task records live. Every call is async and must not block the event loop."""

    async def open(self) -> None:
        """Acquire resources (files, connections, threads). Called once before use."""

    async def close(self) -> None:
        """Flush and release resources. Pending writes complete first."""

    async def create(self, record: TaskRecord) -> None:
        """Store a new record durably; a ``ValueError`` if its id exists."""

    async def update(self, record: TaskRecord) -> None:
        """Replace the stored record with the same id; a ``KeyError`` if there is none."""

    async def get(self, task_id: str) -> TaskRecord | None:
        """The record with that id, or None."""

    async def query(
        self, *, state: State | None = None, name: str | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Records newest first, optionally filtered by state and name."""

    async def changes(self, after: int, limit: int = 100) -> list[Change]:
        """The latest write of each record changed after sequence number ``after``, oldest first."""

    async def last_seq(self) -> int:
        """The sequence number of the latest write (0 for an empty store)."""
