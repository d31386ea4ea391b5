"""Delayed tasks: when a task submitted for later is due, and bringing due ones to run.

A task submitted with a delay (``delay=`` seconds, or ``at=`` a moment) whose time is still
to come is stored ``scheduled``, with its ``run_at``, held by nobody: it is a row in the
store, not an entry in any process's memory, so a restart in between loses nothing. Every
claiming runner's upkeep round (``recovery.claim``, every ``TASKS_POLL_INTERVAL``) takes the
due ones, now queued and held by it, and runs them as usual. A ``run_at`` that has passed
already runs at once.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .errors import InvalidOptions, ShuttingDown, TooManyScheduled
from .records import State, TaskRecord, utcnow

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["MAX_DELAY", "check_room", "run_at", "take_due"]

#: the longest delay, in seconds (about 31 years)
MAX_DELAY = 1_000_000_000.0
_LATEST = datetime.max.replace(tzinfo=UTC)


def run_at(
    created_at: datetime, *, delay: float | timedelta | None, at: datetime | None
) -> datetime | None:
    """When a task created at ``created_at`` is due; None when neither option is given.

    ``InvalidOptions`` says what is wrong: both given, a negative or endless delay, or a
    moment without a UTC offset (which would mean a different moment on every server).
    """
    if delay is not None and at is not None:
        raise InvalidOptions("give a delay or a moment to run at (at), not both")
    if at is not None:
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidOptions(
                f"at must carry its UTC offset, such as 2030-01-01T09:00:00+01:00 or ...Z, "
                f"not {at.isoformat()!r}"
            )
        try:
            return at.astimezone(UTC)
        except OverflowError:  # within a day of the calendar's ends
            return _LATEST if at.year > 1 else created_at
    if delay is None:
        return None
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_DELAY):
        raise InvalidOptions(
            f"delay must be a number of seconds from 0 to {MAX_DELAY:.0f}, not {delay!r}"
        )
    return created_at + timedelta(seconds=seconds)


async def check_room(runner: Runner) -> None:
    """Refuse a delayed task while shutting down, or with ``max_scheduled`` already waiting."""
    if not runner.accepting:
        raise ShuttingDown("the server is shutting down and takes no new tasks; retry shortly")
    if await runner.store.count(State.SCHEDULED) >= runner.max_scheduled:
        raise TooManyScheduled(
            f"{runner.max_scheduled} delayed tasks are already waiting for their time; "
            "retry later or raise TASKS_MAX_SCHEDULED",
            retry_after=60,
        )


async def take_due(runner: Runner, limit: int) -> list[TaskRecord]:
    """Take up to ``limit`` due scheduled tasks for ``runner``: queued, held by it."""
    if limit <= 0:
        return []
    return await runner.store.take_due(runner.owner, runner.lease, now=utcnow(), limit=limit)
