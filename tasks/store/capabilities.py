"""The optional capabilities of a task store (see :mod:`.protocol`): each a
``runtime_checkable`` protocol that the engine looks for once, with ``isinstance``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

from ..records import TaskRecord

__all__ = [
    "AnnouncesPauses",
    "AnnouncesWork",
    "ChangeNotifier",
    "ProcessLocal",
    "QueuesWrites",
    "WritesInTransaction",
]


@runtime_checkable
class QueuesWrites(Protocol):
    """A store that can queue writes without a coroutine, committing them in call order.

    The engine's writer uses it for the writes of a task's life (submission, start, end,
    progress): it queues them and goes on, and listeners hear of each once it has committed,
    so that many writes share one commit. Without it, each write is awaited on its own.
    Each future resolves as the coroutine of the same name would return, or raises as it
    would raise.
    """

    def create_soon(
        self, record: TaskRecord, *, owner: str | None, lease: float
    ) -> asyncio.Future[TaskRecord | None]:
        """Queue :meth:`Store.create`; its future resolves once the insert has committed."""

    def update_soon(self, record: TaskRecord, *, owner: str) -> asyncio.Future[bool]:
        """Queue :meth:`Store.update`; its future resolves once the write has committed."""


@runtime_checkable
class ChangeNotifier(Protocol):
    """A store that announces changes committed by any process, so followers need not poll.

    Event streams (:class:`~tasks.ChangeFeed`) read the change log when it calls. Without
    it they notice other processes' writes with a ``last_seq`` poll every
    ``EVENTS_POLL_INTERVAL`` seconds (only while a stream is open); writes of this process
    wake them at once either way.
    """

    def watch_changes(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after each committed change; returns the function that stops it."""


@runtime_checkable
class AnnouncesWork(Protocol):
    """A store that announces, to every process, tasks left free to claim: stored or handed
    back held by nobody, or stored for later.

    Workers that take their tasks from the store (:mod:`tasks.engine.follow`) claim when it
    calls, rather than on every change. Without it they follow :class:`ChangeNotifier`, or
    poll.
    """

    def watch_work(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after each such commit; returns the function that stops it."""


@runtime_checkable
class AnnouncesPauses(Protocol):
    """A store that announces, to every process, each pause or resume of a queue.

    A runner then keeps the paused queues in memory, read again after each announcement (and
    every poll round, in case one was lost), instead of reading them before each start.
    """

    def watch_pauses(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after each commit of :meth:`Store.set_paused`, and whenever an
        announcement may have been missed (a reconnection); returns the function that stops it.
        """


@runtime_checkable
class ProcessLocal(Protocol):
    """A store whose records only this process sees, and that lose them when it exits.

    Without it a store is taken to be shared by every process that opens the same location
    (a file, a database). With it the ``tasks`` command refuses what would need another
    process to see the records (a task stored for a server, reading a server's tasks,
    ``tasks worker``) and says to use ``--url`` or a shared store instead.
    """

    @property
    def process_local(self) -> Literal[True]:
        """True: this member is the capability."""


@runtime_checkable
class WritesInTransaction(Protocol):
    """A store that can write a new record inside a transaction its caller has open on
    its own connection to the same database, so that the task exists only if that
    transaction commits (``.options(connection=conn)``).

    Without it ``connection=`` is refused (:class:`~tasks.InvalidOptions`).
    """

    async def create_in(self, connection: object, record: TaskRecord) -> TaskRecord | None:
        """Insert ``record`` in the transaction open on ``connection`` (an async driver
        connection); None once written, or the record that already holds its idempotency
        key (nothing written). Nothing is visible to others before the caller commits."""

    def create_in_sync(self, connection: object, record: TaskRecord) -> TaskRecord | None:
        """:meth:`create_in` on a synchronous driver connection, from the caller's thread."""
