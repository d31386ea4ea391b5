"""Retention: finished records older than ``TASKS_RETENTION`` are deleted, a batch at a time.

Each batch is one short write transaction (SQLite: a few milliseconds at 500 rows), so other
writers never wait long. Processes sharing a store may prune at the same time: each deletes
only what is still there, and a task's cleanup runs in the process whose delete removed it.
After each round the registry's sweepers (``@registry.sweeper``) run in every process, for
what no cleanup reached.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from ..errors import StoreUnavailable, UnknownTask
from ..records import State, TaskRecord, utcnow
from ..registry import RecordLookup, Registry
from ..store import FINISHED_STATES, Store

__all__ = ["BATCH", "cutoff", "interval", "keep_pruning", "prune", "sweep"]

log = logging.getLogger("tasks")

#: records deleted in one transaction
BATCH = 500
#: batches in one maintenance round, so that a round stays short
ROUND_BATCHES = 20


async def keep_pruning(store: Store, registry: Registry, retention: float, every: float) -> None:
    """Prune records past ``retention`` seconds every ``every`` seconds, then sweep, until
    cancelled."""
    while True:
        try:
            deleted = await prune(store, registry, cutoff(retention), max_batches=ROUND_BATCHES)
            if deleted:
                log.debug("retention: deleted %d finished records", deleted)
            await sweep(registry, store.get)
        except asyncio.CancelledError:
            raise
        except StoreUnavailable as exc:  # an outage, already answered with 503s: no traceback
            log.warning("pruning finished records failed (%s); trying again in %s s", exc, every)
        except Exception:
            log.exception("pruning finished records failed; trying again in %s s", every)
        await asyncio.sleep(every)


def interval(retention: float, poll_interval: float) -> float:
    """How often to prune: a tenth of the retention, within one poll interval and a minute."""
    return max(poll_interval, min(60.0, retention / 10))


async def prune(
    store: Store,
    registry: Registry,
    before: datetime,
    *,
    states: frozenset[State] = FINISHED_STATES,
    max_batches: int | None = None,
) -> int:
    """Delete finished records that finished before ``before``; return how many.

    Runs each deleted record's task cleanup (``@registry.task(cleanup=...)``) in a thread.
    ``max_batches`` bounds one call, so a maintenance round never runs for long.
    """
    total = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        deleted = await store.prune(before, states=states, limit=BATCH)
        batches += 1
        total += len(deleted)
        for record in deleted:
            await _clean_up(registry, record)
        if len(deleted) < BATCH:
            break
    return total


async def sweep(registry: Registry, get: RecordLookup) -> None:
    """Run each of the registry's sweepers (see :meth:`Registry.sweeper`); log failures."""
    for sweeper in registry.sweepers:
        try:
            await sweeper(get)
        except asyncio.CancelledError:
            raise
        except StoreUnavailable as exc:  # an outage: no traceback
            log.warning("sweeper %s could not read the store (%s)", _name(sweeper), exc)
        except Exception:
            log.exception("sweeper %s failed", _name(sweeper))


def _name(func: object) -> str:
    return getattr(func, "__qualname__", repr(func))


def cutoff(retention: float) -> datetime:
    """The finish time before which a record is past ``retention`` seconds."""
    return utcnow() - timedelta(seconds=retention)


async def _clean_up(registry: Registry, record: TaskRecord) -> None:
    try:
        cleanup = registry.get(record.name).cleanup
    except UnknownTask:
        return
    if cleanup is None:
        return
    try:
        await asyncio.to_thread(cleanup, record)
    except Exception:
        log.exception("cleanup of task %s (%s) failed", record.name, record.id)
