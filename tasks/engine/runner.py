"""The runner: accepts tasks, bounds how many run and wait, and drives each one to an end.

Each submission is checked, stored, then dispatched: to this process's own slots
(:mod:`.slots`, which run it through ``spawn``, in a Quart app ``app.add_background_task``),
or to a broker's workers (:mod:`.broker`). The runner is an owner in the store: it holds
what it accepted or claimed under a lease it renews, and claims live tasks nobody holds
(:mod:`.recovery`). Its parts are put together in :mod:`.assembly`; none of them knows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, Unpack

from .. import tracing
from ..errors import StoreUnavailable, Unavailable
from ..idempotency import Submitted
from ..options import OptionFields, SubmitOptions
from ..ownership import new_owner_id
from ..records import TaskRecord
from ..registry import Registry
from ..store import RecordReader, Store
from . import in_transaction, submission
from .assembly import Limits, assemble
from .dispatch import Dispatch
from .slots import Spawn
from .writer import Listener

__all__ = ["Runner", "Spawn"]

log = logging.getLogger("tasks")


class Runner:
    """Runs registered tasks with bounded concurrency, timeouts, retries and cancellation.

    ``dispatch`` is where stored submissions go (default: this process's slots). With
    ``holds=False`` a submission is stored held by nobody, for the dispatch's workers (a
    broker's) to take; with ``claims_ahead=False`` a claiming round takes only what the free
    slots can start now and ``prefetch`` more, leaving the rest to the other workers (see
    :mod:`tasks.app.role`). With ``queues``, it runs only the tasks of those queues; the
    others it accepts are stored for a runner that serves them.
    """

    def __init__(
        self,
        registry: Registry,
        store: Store,
        *,
        spawn: Spawn | None = None,
        max_running: int = 8,
        max_queued: int = 1000,
        max_scheduled: int = 100_000,
        progress_interval: float = 0.2,
        cancel_wait: float = 1.0,
        lease: float = 30.0,
        poll_interval: float = 1.0,
        claim: bool = True,
        host_id: str = "",
        dispatch: Dispatch | None = None,
        holds: bool = True,
        claims_ahead: bool = True,
        prefetch: int = 0,
        queues: Collection[str] | None = None,
    ) -> None:
        if dispatch is None and not holds:
            raise ValueError("a runner without a dispatch runs what it accepts: it must hold it")
        self.registry = registry
        #: the tasks of the queues this runner serves (``queues``; None: every queue)
        self.served = registry.serving(queues)
        self.store = store
        #: the store's reading part, for the layers above (API, dashboard, streams, CLI)
        self.records: RecordReader = store
        self.owner = new_owner_id(host_id)
        self.max_running = max_running
        self.max_queued = max_queued
        self.max_scheduled = max_scheduled
        self.cancel_wait = cancel_wait
        self.lease = lease
        self.claims = claim
        self.holds = holds
        limits = Limits(max_running, max_queued, progress_interval, cancel_wait, lease,
                        poll_interval, claims=claim, claims_ahead=claims_ahead,
                        prefetch=prefetch)  # fmt: skip
        parts = assemble(self, self.served, store, owner=self.owner, limits=limits, spawn=spawn,
                         dispatch=dispatch)  # fmt: skip
        self.store_health = parts.health
        self.progress = parts.progress
        #: the paused queues: pause and resume one for every process sharing the store
        self.pauses = parts.pauses
        self._writer, self._slots, self._dispatch = parts.writer, parts.slots, parts.dispatch
        self._cancellation, self._upkeep = parts.cancellation, parts.upkeep
        self._intake, self._room = parts.intake, parts.room
        self._loops: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Claim what earlier processes left (unless ``claim=False``), then accept tasks."""
        tracing.refresh()
        self._slots.open()
        if self.holds or self.claims:  # a web process that runs nothing needs no announcements
            self.pauses.start()
        await self._dispatch.start()
        if self.claims:
            try:
                await self._upkeep.claim()
            except StoreUnavailable as exc:  # the upkeep loop claims once the store is back
                self.store_health.failed(exc)
                log.warning("claiming at startup failed: %s", exc)
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self.progress.run()),
            loop.create_task(self._upkeep.maintain()),
        ]

    async def drain(self) -> None:
        """Refuse new tasks and start no more; hand waiting ones back to the store.

        Running tasks go on. Waiting ones stay ``queued`` in the store, held by nobody, so
        that another live process or the next start runs them.
        """
        if not self._slots.accepting:
            return
        handed_back = self._slots.drain()
        # Submissions already storing end dispatched (enqueueing nothing here any more), so
        # that the release below hands them back.
        await self._intake.settled()
        await self._dispatch.drain()
        running = self._slots.running_ids()
        await self._release(running)
        log.info("draining: %d running, %d waiting handed back", len(running), handed_back)

    async def close(self) -> None:
        """Drain, stop the runner's own tasks, and let go of everything it still holds.

        A task whose thread is still busy stays held until this process exits: it must not
        run twice at once. The next process claims it then.
        """
        await self.drain()
        self.pauses.stop()
        await self._slots.stop()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.progress.flush()
        await self._writer.close()
        busy = self._slots.busy_threads()
        for task_id in busy:
            log.warning("task %s: its thread is still busy at shutdown; held until exit", task_id)
        await self._release(busy)
        await self._dispatch.close()

    async def _release(self, keep: frozenset[str]) -> None:
        try:
            await self.store.release(self.owner, keep=keep)
        except StoreUnavailable as exc:
            log.warning(
                "could not hand tasks back (%s); others claim them when the lease ends", exc
            )

    @property
    def accepting(self) -> bool:
        return self._slots.accepting

    @property
    def running(self) -> int:
        return self._slots.running

    @property
    def waiting(self) -> int:
        """Tasks held here that are not running, and those a broker's workers have not taken."""
        return self._room.waiting

    @property
    def limited(self) -> int:
        """Tasks held here that a concurrency or rate limit keeps from starting."""
        return self._slots.limited

    def on_limit_wait(self, listener: Callable[[str, float], None]) -> None:
        """Call ``listener(name, seconds)`` with the time each limited start waited here."""
        self._slots.held_back.on_wait = listener

    @property
    def capacity(self) -> int:
        """How many more tasks the waiting queue can take."""
        return self._room.capacity

    @property
    def unadopted(self) -> list[TaskRecord]:
        """Claimed records whose adoption failed (a store error); adopted again next round."""
        return self._upkeep.unadopted

    def counted(self, record: TaskRecord) -> None:
        """Count against the waiting queue a task stored in a caller's transaction (see
        :mod:`.in_transaction`), as a submission of this runner would be."""
        self._dispatch.counted(record)

    def refusal(self) -> Unavailable | None:
        """Why a task submitted now would be refused (shutting down, queue full), or None."""
        return self._room.refusal()

    async def join(self) -> None:
        """Wait until nothing is running, waiting or due for a retry, and every write is in."""
        while True:
            await self._slots.idle()
            await self._writer.flushed()
            if self._writer.pending == 0 and not self._slots.busy:
                return

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every record this runner writes; returns an unsubscribe."""
        return self._writer.subscribe(listener)

    # -- the public operations ----------------------------------------------------------

    async def submit(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        options: SubmitOptions | None = None,
        *,
        enqueue: bool = True,
        **fields: Unpack[OptionFields],
    ) -> TaskRecord:
        """Check, store and dispatch a task; return its record once it is durable.

        ``options`` (or its fields as keywords: ``timeout=30``) apply to this call. With
        ``enqueue=False`` it is stored held by nobody, for whichever runner claims it first;
        with a ``delay`` or ``at`` still to come, stored ``scheduled``; with a ``key`` that a
        task already has, that task comes back instead (:meth:`accept` says which).
        """
        submitted = await self.accept(name, kwargs, options, enqueue=enqueue, **fields)
        return submitted.record

    async def accept(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        options: SubmitOptions | None = None,
        *,
        enqueue: bool = True,
        **fields: Unpack[OptionFields],
    ) -> Submitted:
        """:meth:`submit`, saying whether the idempotency key made it a replay.

        A replay (the key's task has the same name and arguments) returns that task; other
        arguments raise ``IdempotencyConflict``. Made by a task running here, the
        submission is that task's child (see :mod:`.workflow`). With a ``connection``, it is
        stored in the transaction open on it instead (see :mod:`.in_transaction`).
        """
        definition = self.registry.get(name)
        arguments = definition.validate(kwargs or {})
        options = SubmitOptions.of(options, **fields)
        if options.connection is not None:  # stored in the caller's transaction
            return await in_transaction.accept(self, definition, arguments, options)
        return await submission.accept(
            self, self._intake, definition, arguments, options, enqueue=enqueue
        )

    async def get(self, task_id: str) -> TaskRecord:
        return await self._writer.get(task_id)

    async def wait(self, task_id: str, *, poll_interval: float = 0.5) -> TaskRecord:
        """Wait until the task reaches a terminal state and return its final record.

        Writes by this runner wake the wait at once; the store is also read every
        ``poll_interval`` seconds, for tasks that another process runs.
        """
        return await self._writer.ended(task_id, poll_interval=poll_interval)

    async def cancel(self, task_id: str) -> TaskRecord:
        """Cancel a waiting or running task, here or in another process sharing the store.

        Waits up to ``cancel_wait`` seconds for the task to end, then returns its record;
        ``TaskAlreadyFinished`` if it had already ended.
        """
        return await self._cancellation.cancel(task_id)

    # -- scheduling and writes ------------------------------------------------------------

    def wake(self, *, if_more: bool = False) -> None:
        """Claim now rather than at the next poll (work has arrived); with ``if_more``, only
        if the last claim took all it could."""
        self._upkeep.wake(if_more=if_more)

    def enqueue(self, task: TaskRecord | str) -> None:
        """Queue a task this runner holds (its record, or its id); it starts when a slot is free."""
        self._slots.enqueue(task)

    async def take(self, task_id: str) -> None:
        """Run a task that a broker delivered: claim it in the store, then run it here.

        Returns once it has left this runner's queue and slots (a retry due later stays
        held here); at once if another live runner holds it, it has ended, or this runner
        is draining (the store keeps it for the others).
        """
        if self._slots.accepting and await self._upkeep.take(task_id):
            await self._slots.settled(task_id)

    async def take_due(self, limit: int) -> list[TaskRecord]:
        """Take up to ``limit`` due delayed tasks, now queued and held here, to enqueue."""
        return await self._upkeep.take_due(limit)

    async def advance_schedule(self, name: str, tick: datetime, run: TaskRecord | None) -> bool:
        """Move schedule ``name`` to ``tick``, storing ``run`` (None: the tick is skipped),
        held here if its ``owner`` is this runner, else by nobody; False if another process
        handled that tick first (see :meth:`~tasks.store.Store.advance_schedule`)."""
        owner = self.owner if run is not None and run.owner == self.owner else None
        return await self.store.advance_schedule(name, tick, run, owner=owner, lease=self.lease)

    def announce(self, record: TaskRecord) -> None:
        """Tell the listeners of a record stored outside :meth:`submit` (a schedule's run)."""
        self._writer.notify(record)

    async def write(self, record: TaskRecord) -> bool:
        """Write a record this runner holds; False (and a warning) if it no longer holds it."""
        return await self._writer.write(record)

    async def write_soon(self, record: TaskRecord) -> bool:
        """Write like :meth:`write`, without waiting for the commit if the store can queue it."""
        return await self._writer.write_soon(record)
