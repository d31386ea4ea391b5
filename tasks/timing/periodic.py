"""When a periodic task is due: the arithmetic of ``every=`` and ``cron=`` schedules.

``@registry.task(every=timedelta(minutes=5))`` ticks at whole multiples of the period since
1970-01-01 00:00 UTC (every hour on the hour, every day at midnight UTC), so that every
process computes the same ticks. ``@registry.task(cron="0 3 * * *")`` ticks when the cron
expression matches, in UTC or in the ``timezone`` the task names (an IANA name such as
``Europe/Paris``; daylight-saving changes are handled as Debian's cron does). Nothing here
reads the clock: every function takes "now", so the arithmetic is tested without waiting.

What happens at a tick is in ``schedules.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

__all__ = ["MAX_LATENESS", "Schedule"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: a tick handled later than this (or than half its period, if shorter) was missed
MAX_LATENESS = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A periodic task's ticks: ``every`` a period, or at each match of ``cron``.

    ``catch_up``: after a time in which no process ran the schedule, the latest missed tick
    runs once (True, the default) or is skipped (False). Older missed ticks never run.
    """

    every: timedelta | None = None
    cron: str | None = None
    timezone: str = "UTC"
    catch_up: bool = True

    @classmethod
    def declared(
        cls,
        *,
        every: timedelta | None,
        cron: str | None,
        timezone: str | None,
        catch_up: bool,
    ) -> Schedule | None:
        """The schedule of a task declared with these options, or None without one.

        A ``ValueError`` (or ``TypeError``) says what is wrong with them.
        """
        if every is None and cron is None:
            if timezone is not None:
                raise ValueError("timezone applies to a cron schedule: add cron=...")
            return None
        if every is not None and cron is not None:
            raise ValueError("a task has one schedule: give every= or cron=, not both")
        if every is not None:
            if not isinstance(every, timedelta):
                raise TypeError(f"every must be a timedelta, not {every!r}")
            if every < timedelta(seconds=1) or every % timedelta(seconds=1):
                raise ValueError(f"every must be a whole number of seconds, 1 or more: {every!r}")
            if timezone is not None:
                raise ValueError(
                    "every= ticks at multiples of its period since 1970-01-01 00:00 UTC; "
                    "timezone applies to cron schedules"
                )
            return cls(every=every, catch_up=catch_up)
        assert cron is not None
        zone = timezone or "UTC"
        _zone(zone)  # refuse an unknown name now, not at the first tick
        try:
            CronSim(cron, datetime.now(UTC))
        except (CronSimError, AttributeError, TypeError) as exc:
            raise ValueError(
                f"cron={cron!r} is not a cron expression ({exc}); write five fields: "
                'minute hour day-of-month month day-of-week, such as "0 3 * * *"'
            ) from None
        return cls(cron=" ".join(cron.split()), timezone=zone, catch_up=catch_up)

    def latest(self, now: datetime) -> datetime:
        """The latest tick at or before ``now``, in UTC."""
        if self.every is not None:
            return EPOCH + (now - EPOCH) // self.every * self.every
        assert self.cron is not None
        # reverse from a moment with microseconds: its own whole second is checked first
        start = now.astimezone(_zone(self.timezone)).replace(microsecond=1)
        return next(CronSim(self.cron, start, reverse=True)).astimezone(UTC)

    def next_after(self, moment: datetime) -> datetime:
        """The first tick after ``moment``, in UTC."""
        if self.every is not None:
            return self.latest(moment) + self.every
        assert self.cron is not None
        start = moment.astimezone(_zone(self.timezone))
        return next(CronSim(self.cron, start)).astimezone(UTC)

    def on_time(self, tick: datetime, now: datetime) -> bool:
        """Whether ``now`` is soon enough after ``tick`` to run it as due, not as missed:
        within a minute, and within half the time to the next tick."""
        lateness = min(MAX_LATENESS, (self.next_after(tick) - tick) / 2)
        return now - tick <= lateness

    def to_dict(self) -> dict[str, Any]:
        return {
            "every": self.every.total_seconds() if self.every is not None else None,
            "cron": self.cron,
            "timezone": self.timezone,
            "catch_up": self.catch_up,
        }

    def describe(self) -> str:
        if self.every is not None:
            return f"every {_period(self.every)}"
        return f"cron {self.cron!r}" + ("" if self.timezone == "UTC" else f" ({self.timezone})")


def _zone(name: str) -> tzinfo:
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone={name!r} is not a known time zone; use an IANA name such as "
            "'Europe/Paris' or 'America/New_York'"
        ) from None


def _period(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
