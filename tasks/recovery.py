"""Nothing lost: claiming tasks nobody runs, renewing leases, and acting on remote cancels.

At startup and then every ``poll_interval`` seconds a runner claims live tasks that nobody
holds or whose holder is gone, and takes delayed tasks that have come due (``delays.py``):

- a ``queued`` task is queued here (it never started, or it was handed back at a shutdown);
- a ``running`` task was interrupted mid-attempt: it runs again if its task is declared
  ``idempotent``, and otherwise ends ``failed`` with an error of type ``interrupted``.

The same loop renews this runner's lease and cancels the tasks it holds whose cancellation
was requested through another process.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING

from . import delays
from .cancellation import cancel_here
from .errors import StoreUnavailable, UnknownTask
from .ownership import host_of, owner_is_dead
from .records import ErrorInfo, State, TaskRecord

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["claim", "maintain"]

log = logging.getLogger("tasks")

INTERRUPTED = (
    "the process running this task stopped before it finished, and the task is not declared "
    "idempotent, so it was not run again; submit it anew if that is safe"
)


async def maintain(runner: Runner) -> None:
    """Renew the lease, apply remote cancels and claim orphans, every ``poll_interval``."""
    while True:
        await asyncio.sleep(runner.poll_interval)
        try:
            for task_id in await runner.store.renew(runner.owner, runner.lease):
                await cancel_here(runner, task_id)
            if runner.accepting and runner.claims:
                await claim(runner)
        except asyncio.CancelledError:
            raise
        except StoreUnavailable as exc:
            log.warning("task store upkeep failed: %s", exc)
        except Exception:
            log.exception("task store upkeep failed; trying again in %s s", runner.poll_interval)


async def claim(runner: Runner) -> int:
    """Claim and adopt what nobody runs; returns how many tasks were claimed.

    One round takes at most twice what the runner can run at once, so that several
    processes starting together share the backlog instead of one taking all of it.
    """
    records, runner.unadopted = runner.unadopted, []
    limit = min(runner.capacity, 2 * runner.max_running) - len(records)
    if limit > 0:
        here = host_of(runner.owner)
        claimed = await runner.store.claim(
            runner.owner, runner.lease, limit=limit, is_dead=partial(owner_is_dead, host=here)
        )
        records += claimed + await delays.take_due(runner, limit - len(claimed))
    outcomes: dict[str, int] = {}
    for number, record in enumerate(records):
        try:
            outcome = await _adopt(runner, record)
        except asyncio.CancelledError:
            runner.unadopted += records[number:]  # still held here; close() hands them back
            raise
        except Exception:
            # Held here now, so no other runner claims it: keep it and adopt it next round.
            log.exception("task %s: adopting it failed; trying again next round", record.id)
            runner.unadopted.append(record)
            outcome = "retried later"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if records:
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        log.info("claimed %d tasks: %s", len(records), summary)
    return len(records)


async def _adopt(runner: Runner, record: TaskRecord) -> str:
    if record.cancel_requested:
        await runner.write(record.finished(State.CANCELLED))
        return "cancelled"
    if record.state is State.QUEUED:
        runner.enqueue(record)
        return "queued"
    try:
        idempotent = runner.registry.get(record.name).idempotent
    except UnknownTask as exc:
        await runner.write(record.finished(State.FAILED, error=ErrorInfo(exc.code, exc.message)))
        return "unknown"
    if idempotent:
        log.warning("task %s (%s) was interrupted; running it again", record.name, record.id)
        queued = record.replace(state=State.QUEUED, progress=None)
        if await runner.write(queued):
            runner.enqueue(queued)
        return "resumed"
    log.warning("task %s (%s) was interrupted; it is not idempotent", record.name, record.id)
    error = ErrorInfo("interrupted", INTERRUPTED)
    await runner.write(record.finished(State.FAILED, error=error))
    return "interrupted"
