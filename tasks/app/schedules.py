"""Periodic tasks: one run per tick, across every process sharing the store.

Every claiming runner (``TASKS_CLAIM``, on by default) keeps its app's schedules: it sleeps
until the next tick of any of them, then, for each schedule whose latest tick no process has
handled yet, creates that tick's run, an ordinary record that carries ``schedule`` and
``tick``. The store decides who wins (:meth:`~tasks.store.Store.advance_schedule` moves a
schedule to a tick once), so that any number of processes, several Hypercorn workers and
other machines on a PostgreSQL store, can all try at the same moment: one record results,
and the winner runs it (or, with a full queue, leaves it queued for whoever claims it).

**Missed ticks.** The store keeps each schedule's latest tick, run or skipped, apart from
the records, so that retention never makes an old tick run again. After a time in which no
process ran a schedule, its latest missed tick runs once (not one run per missed tick), or
with ``catch_up=False`` is skipped. A schedule that was never handled before (a new task)
starts with the next tick that comes while a process runs, not with a past one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..definition import TaskDefinition
from ..errors import StoreUnavailable
from ..records import TaskRecord, utcnow
from ..store import RecordReader, ScheduleMark
from ..timing.periodic import Schedule

if TYPE_CHECKING:
    from ..engine.runner import Runner

__all__ = ["describe", "keep_schedules", "periodic", "tick_once"]

log = logging.getLogger("tasks")

#: longest sleep between two looks at the clock, in seconds (so that clock changes tell)
MAX_SLEEP = 30.0
#: seconds slept past a tick, so that a timer firing a hair early does not spin
PAST_TICK = 0.001

Clock = Callable[[], datetime]


def periodic(definitions: Iterable[TaskDefinition]) -> list[TaskDefinition]:
    """The definitions that declare a schedule."""
    return [definition for definition in definitions if definition.schedule is not None]


async def keep_schedules(
    runner: Runner, definitions: list[TaskDefinition], *, clock: Clock = utcnow
) -> None:
    """Create the runs of ``definitions`` tick by tick, until cancelled."""
    while True:
        now = clock()
        if runner.accepting:
            try:
                await tick_once(runner, definitions, now)
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as exc:
                runner.store_health.failed(exc)  # a run may have committed: reconciled later
                log.warning("periodic tasks: the store is unavailable (%s); trying again", exc)
            except Exception:
                log.exception("periodic tasks: a round failed; trying again at the next tick")
        wake = min(_schedule(definition).next_after(now) for definition in definitions)
        seconds = (wake - clock()).total_seconds() + PAST_TICK
        await asyncio.sleep(min(MAX_SLEEP, max(PAST_TICK, seconds)))


async def tick_once(runner: Runner, definitions: list[TaskDefinition], now: datetime) -> int:
    """Handle each schedule's latest tick at ``now``, if no process has; return the runs
    this call created."""
    marks = {mark.name: mark for mark in await runner.records.schedule_marks()}
    created = 0
    for definition in definitions:
        schedule = _schedule(definition)
        tick = schedule.latest(now)
        mark = marks.get(definition.name)
        if mark is not None and mark.tick >= tick:
            continue  # handled, here or elsewhere
        if schedule.on_time(tick, now) or (mark is not None and schedule.catch_up):
            created += await _run(runner, definition, tick)
        elif await runner.advance_schedule(definition.name, tick, None):
            if mark is None:
                log.info(
                    "periodic task %s: first seen; it starts with its next tick", definition.name
                )
            else:
                log.info("periodic task %s: tick %s was missed; skipped", definition.name, tick)
    return created


async def _run(runner: Runner, definition: TaskDefinition, tick: datetime) -> int:
    # with a full queue, or a queue this runner does not serve, stored for whoever claims it
    held = runner.refusal() is None and runner.served.serves(definition)
    owner = runner.owner if held else None
    record = TaskRecord.new(
        definition.name,
        definition.validate({}),
        max_attempts=1 + definition.retries.retries,
        timeout=definition.timeout,
        owner=owner,
    ).replace(
        schedule=definition.name,
        tick=tick,
        queue=definition.queue,
        priority=definition.priority,
    )
    if not await runner.advance_schedule(definition.name, tick, record):
        return 0  # another process created this tick's run
    log.info("periodic task %s: tick %s runs as %s", definition.name, tick, record.id)
    runner.announce(record)
    if held:
        runner.enqueue(record)
    return 1


async def describe(
    definitions: Iterable[TaskDefinition], records: RecordReader, now: datetime
) -> list[dict[str, Any]]:
    """Each schedule as JSON: its task, period or cron expression, last and next run."""
    marks = {mark.name: mark for mark in await records.schedule_marks()}
    described = []
    for definition in periodic(definitions):
        schedule = _schedule(definition)
        described.append(
            {
                "name": definition.name,
                **schedule.to_dict(),
                "last_run": await _last_run(records, marks.get(definition.name)),
                "next_run": _iso(schedule.next_after(now)),
            }
        )
    return described


async def _last_run(records: RecordReader, mark: ScheduleMark | None) -> dict[str, Any] | None:
    if mark is None:
        return None
    record = await records.get(mark.task_id) if mark.task_id is not None else None
    return {
        "tick": _iso(mark.tick),
        "task_id": mark.task_id,
        "state": record.state.value if record is not None else None,
    }


def _schedule(definition: TaskDefinition) -> Schedule:
    assert definition.schedule is not None, f"task {definition.name!r} has no schedule"
    return definition.schedule


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
