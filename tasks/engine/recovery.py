"""Nothing lost: claiming tasks nobody runs, renewing leases, and acting on remote cancels.

At startup and then every ``poll_interval`` seconds a runner claims live tasks that nobody
holds or whose holder is gone, and takes delayed tasks that have come due (``delays.py``):

- a ``queued`` task is queued here (it never started, or it was handed back at a shutdown);
- a ``running`` task was interrupted mid-attempt: it runs again if its task is declared
  ``durable`` (its succeeded steps are skipped) or ``idempotent``, and otherwise ends
  ``failed`` with an error of type ``interrupted``.

A runner claims only tasks whose names its registry has: the store skips the others, so that
processes of different apps, or the old and the new version of one app during a rolling
deploy, share a store without taking (and failing) each other's tasks. A task of an unknown
name that is held here all the same is handed back as it is. Nor does it claim the tasks of a
paused queue (``pauses.py``); a task of one interrupted by a crash is recovered once its queue
is resumed.

The same loop renews this runner's lease and cancels the tasks it holds whose cancellation
was requested through another process. After the store failed, the first renewal that lands
reconciles: a write whose answer was lost may have committed, leaving this runner holding a
task it does not know of; every such task is let go, and the claim that follows takes it up
as any task nobody holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial

from .. import tracing
from ..errors import StoreUnavailable
from ..ownership import host_of, owner_is_dead
from ..records import ErrorInfo, State, TaskRecord, utcnow
from ..store import Store, is_damaged
from .attempt import Definitions
from .cancellation import Cancellation
from .pauses import Pauses
from .slots import Slots
from .store_health import StoreHealth
from .writer import RecordWriter

__all__ = ["INTERRUPTED", "Upkeep"]

log = logging.getLogger("tasks")

INTERRUPTED = (
    "the process running this task stopped before it finished, and the task is not declared "
    "idempotent, so it was not run again; submit it anew if that is safe"
)


class Upkeep:
    """The runner's round every ``poll_interval``: renew, cancel on request, claim.

    ``claim_limit`` says how many tasks one claiming round may take at most; with
    ``claims`` false the runner claims nothing and runs only what it accepted itself. Claims
    leave out the tasks of the queues ``pauses`` says are paused.
    """

    def __init__(
        self,
        store: Store,
        definitions: Definitions,
        writer: RecordWriter,
        slots: Slots,
        cancellation: Cancellation,
        *,
        poll_interval: float,
        claims: bool,
        claim_limit: Callable[[], int],
        claim_batch: int = 1,
        health: StoreHealth,
        in_flight: Callable[[], frozenset[str]],
        pauses: Pauses,
    ) -> None:
        self.store = store
        self.definitions = definitions
        self.pauses = pauses
        self.writer = writer
        self.slots = slots
        self.cancellation = cancellation
        self.poll_interval = poll_interval
        self.claims = claims
        self._claim_limit = claim_limit
        self._claim_batch = claim_batch
        self.health = health
        self._in_flight = in_flight
        #: claimed records whose adoption failed (a store error); adopted again next round
        self.unadopted: list[TaskRecord] = []
        self._woken = asyncio.Event()
        #: work may be waiting in the store: announced, or the last claim took all it could
        self._work_waits = False
        #: tasks whose claim by id failed with a store error: it may have committed
        self._unsure: set[str] = set()

    @property
    def owner(self) -> str:
        return self.writer.owner

    def wake(self, *, if_more: bool = False) -> None:
        """Work has arrived (or with ``if_more``, a slot is free): claim now, not at the end
        of the poll interval, if work may be waiting and at least ``claim_batch`` tasks can
        be taken, so that claims come in batches rather than one per task."""
        if not if_more:
            self._work_waits = True
        if self._work_waits and self._claim_limit() >= self._claim_batch:
            self._woken.set()

    async def maintain(self) -> None:
        """Renew the lease, apply remote cancels and claim orphans, every ``poll_interval``;
        claim in between too whenever woken."""
        renewed = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(renewed + self.poll_interval - time.monotonic()):
                    await self._woken.wait()
            self._woken.clear()
            try:
                if time.monotonic() < renewed + self.poll_interval:
                    if self.slots.accepting and self.claims:
                        await self.claim(due=False)  # the delay alarm takes those on time
                    continue
                renewed = time.monotonic()
                tracing.refresh()  # a tracer provider set since is used from now on
                await self.round()
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as exc:
                self.health.failed(exc)
                log.warning("task store upkeep failed: %s", exc)
            except Exception as exc:
                self.health.failed(exc)
                log.exception("task store upkeep failed; trying again in %s s", self.poll_interval)

    async def round(self) -> None:
        """One round: renew, reconcile after a failure, cancel on request, read the paused
        queues, claim."""
        cancelled = await self.store.renew(self.owner, self.writer.lease)
        if self.health.answered():
            await self.reconcile()
        for task_id in cancelled:
            await self.cancellation.cancel_here(task_id)
        await self.pauses.refresh()  # even where they are announced: one may have been lost
        if self.slots.accepting and self.claims:
            await self.claim()

    async def reconcile(self) -> int:
        """Let go of every live task the store says this runner holds but it does not know
        (waiting, running, being stored or written); returns how many."""
        keep = self.slots.known_ids() | self._in_flight() | {r.id for r in self.unadopted}
        try:
            count = await self.store.release(self.owner, keep=keep)
        except StoreUnavailable as exc:
            self.health.failed(exc)  # reconciled after the next renewal that lands
            raise
        if count:
            log.warning("%d tasks held here were not known after a store failure; let go", count)
        return count

    async def take(self, task_id: str) -> bool:
        """Claim one task by id and adopt it; True if it was queued here to run.

        False if another live runner holds it (or this one does already), it has ended, or
        its name is not one this runner has (it is left for a runner that has it).
        """
        try:
            record = await self.store.claim_task(
                task_id,
                self.owner,
                self.writer.lease,
                is_dead=self._is_dead,
                names=self.pauses.names,
            )
        except StoreUnavailable as exc:
            log.warning("task %s: taking it failed (%s); checking again next round", task_id, exc)
            self._unsure.add(task_id)
            return False
        if record is None:
            return False
        try:
            return await self.adopt(record) in {"queued", "resumed"}
        except Exception:
            log.exception("task %s: adopting it failed; trying again next round", record.id)
            self.unadopted.append(record)
            return False

    async def claim(self, *, due: bool = True) -> int:
        """Claim and adopt what nobody runs, and with ``due`` the delayed tasks now due;
        returns how many tasks were claimed."""
        records, self.unadopted = self.unadopted, []
        records += await self._held_but_unsure()
        limit = self._claim_limit() - len(records)
        if limit > 0:
            self._work_waits = False  # an announcement while this claim runs sets it again
            await self.pauses.current()
            claimed = await self.store.claim(
                self.owner,
                self.writer.lease,
                limit=limit,
                is_dead=self._is_dead,
                names=self.pauses.names,
            )
            self._work_waits = self._work_waits or len(claimed) >= limit  # more may wait
            records += claimed
            if due:
                records += await self.take_due(limit - len(claimed))
        outcomes: dict[str, int] = {}
        for number, record in enumerate(records):
            try:
                outcome = await self.adopt(record)
            except asyncio.CancelledError:
                self.unadopted += records[number:]  # still held here; close() hands them back
                raise
            except Exception:
                # Held here now, so no other runner claims it: keep it and adopt it next round.
                log.exception("task %s: adopting it failed; trying again next round", record.id)
                self.unadopted.append(record)
                outcome = "retried later"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if records:
            summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
            # Claiming queued tasks is a worker's daily work; anything else is a recovery.
            level = logging.DEBUG if set(outcomes) == {"queued"} else logging.INFO
            log.log(level, "claimed %d tasks: %s", len(records), summary)
        return len(records)

    async def take_due(self, limit: int) -> list[TaskRecord]:
        """Due delayed tasks, up to ``limit``: now queued and held here."""
        if limit <= 0:
            return []
        return await self.store.take_due(
            self.owner, self.writer.lease, now=utcnow(), limit=limit, names=self.definitions.names
        )

    async def _held_but_unsure(self) -> list[TaskRecord]:
        """Tasks whose claim by id failed, if the store says this runner holds them after all."""
        found: list[TaskRecord] = []
        for task_id in list(self._unsure):
            record = await self.store.get(task_id)
            self._unsure.discard(task_id)
            if (
                record is not None
                and record.owner == self.owner
                and not record.state.terminal
                and not self.slots.knows(task_id)
            ):
                found.append(record)
        return found

    @property
    def _is_dead(self) -> Callable[[str], bool]:
        return partial(owner_is_dead, host=host_of(self.owner))

    async def adopt(self, record: TaskRecord) -> str:
        """Take on a claimed record: queue it, run it again, end it, or hand it back (a task
        of a name this runner does not know); says which."""
        if record.cancel_requested:
            await self.writer.write(record.finished(State.CANCELLED))
            return "cancelled"
        if is_damaged(record):  # its arguments cannot be read: it cannot run
            await self.writer.write(record.finished(State.FAILED, error=record.error))
            return "damaged"
        if record.name not in self.definitions.names:
            await self.store.release_task(record.id, self.owner)
            return "handed back (unknown here)"
        runs = record.state is State.QUEUED or self.definitions.get(record.name).resumable
        if runs and not self.slots.accepting:
            # claimed as this runner began to drain: it starts nothing more, others will
            await self.store.release_task(record.id, self.owner)
            return "handed back (draining)"
        if record.state is State.QUEUED:
            self.slots.enqueue(record)
            return "queued"
        if self.definitions.get(record.name).resumable:
            log.warning("task %s (%s) was interrupted; running it again", record.name, record.id)
            queued = record.replace(state=State.QUEUED, progress=None)
            if await self.writer.write(queued):
                self.slots.enqueue(queued)
            return "resumed"
        log.warning("task %s (%s) was interrupted; it is not idempotent", record.name, record.id)
        error = ErrorInfo("interrupted", INTERRUPTED)
        await self.writer.write(record.finished(State.FAILED, error=error))
        return "interrupted"
