"""The arithmetic of schedules, with "now" given: no clock is read and nothing waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.timing.periodic import Schedule


def every(**period: float) -> Schedule:
    schedule = Schedule.declared(every=timedelta(**period), cron=None, timezone=None, catch_up=True)
    assert schedule is not None
    return schedule


def cron(expression: str, timezone: str | None = None) -> Schedule:
    schedule = Schedule.declared(every=None, cron=expression, timezone=timezone, catch_up=True)
    assert schedule is not None
    return schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_every_ticks_at_multiples_of_its_period_since_the_epoch() -> None:
    five = every(minutes=5)
    assert five.latest(at("2030-05-06T07:08:09.5+00:00")) == at("2030-05-06T07:05:00+00:00")
    assert five.next_after(at("2030-05-06T07:08:09+00:00")) == at("2030-05-06T07:10:00+00:00")
    # a tick is its own latest tick, and the next one comes a period later
    assert five.latest(at("2030-05-06T07:10:00+00:00")) == at("2030-05-06T07:10:00+00:00")
    assert five.next_after(at("2030-05-06T07:10:00+00:00")) == at("2030-05-06T07:15:00+00:00")
    two = every(seconds=2)
    assert two.latest(at("2030-01-01T00:00:03.999+00:00")) == at("2030-01-01T00:00:02+00:00")
    assert every(days=1).latest(at("2030-01-01T23:59:59+05:00")) == at("2030-01-01T00:00:00+00:00")


def test_cron_ticks_in_utc_by_default() -> None:
    nightly = cron("0 3 * * *")
    assert nightly.latest(at("2030-05-06T02:59:59+00:00")) == at("2030-05-05T03:00:00+00:00")
    assert nightly.latest(at("2030-05-06T03:00:00+00:00")) == at("2030-05-06T03:00:00+00:00")
    assert nightly.next_after(at("2030-05-06T03:00:00+00:00")) == at("2030-05-07T03:00:00+00:00")
    weekdays = cron("30 9 * * MON-FRI")
    saturday = at("2030-05-04T12:00:00+00:00")
    assert weekdays.latest(saturday) == at("2030-05-03T09:30:00+00:00")  # Friday
    assert weekdays.next_after(saturday) == at("2030-05-06T09:30:00+00:00")  # Monday


def test_cron_in_a_time_zone_follows_its_daylight_saving_time() -> None:
    paris = cron("0 3 * * *", "Europe/Paris")
    # 03:00 in Paris is 02:00 UTC in winter and 01:00 UTC in summer
    assert paris.next_after(at("2030-01-10T00:00:00+00:00")) == at("2030-01-10T02:00:00+00:00")
    assert paris.next_after(at("2030-07-10T00:00:00+00:00")) == at("2030-07-10T01:00:00+00:00")
    # 2030-03-31: clocks go from 02:00 to 03:00; the day still has its 03:00
    assert paris.next_after(at("2030-03-30T12:00:00+00:00")) == at("2030-03-31T01:00:00+00:00")
    # a time that does not exist that night runs at the first minute that does
    skipped = cron("30 2 * * *", "Europe/Paris")
    assert skipped.next_after(at("2030-03-30T12:00:00+00:00")) == at("2030-03-31T01:00:00+00:00")
    assert skipped.latest(at("2030-03-30T12:00:00+00:00")) == at("2030-03-30T01:30:00+00:00")
    # 2030-10-27: clocks go back from 03:00 to 02:00; a 02:30 that comes twice runs once
    first = skipped.next_after(at("2030-10-27T00:00:00+00:00"))
    assert first == at("2030-10-27T00:30:00+00:00")
    assert skipped.next_after(first) == at("2030-10-28T01:30:00+00:00")
    assert skipped.latest(at("2030-10-27T01:45:00+00:00")) == first


def test_a_tick_is_on_time_within_a_minute_or_half_its_period() -> None:
    tick = at("2030-01-01T03:00:00+00:00")
    nightly = cron("0 3 * * *")
    assert nightly.on_time(tick, tick + timedelta(seconds=60))
    assert not nightly.on_time(tick, tick + timedelta(seconds=61))
    two = every(seconds=2)
    assert two.on_time(tick, tick + timedelta(seconds=1))
    assert not two.on_time(tick, tick + timedelta(seconds=1.5))


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"every": timedelta(seconds=1), "cron": "* * * * *"}, ValueError, "not both"),
        ({"every": timedelta(milliseconds=500)}, ValueError, "whole number of seconds"),
        ({"every": timedelta(seconds=1.5)}, ValueError, "whole number of seconds"),
        ({"every": 60}, TypeError, "must be a timedelta"),
        ({"cron": "61 * * * *"}, ValueError, "not a cron expression"),
        ({"cron": "0 0 30 2 *"}, ValueError, "not a cron expression"),
        ({"cron": "every day"}, ValueError, "not a cron expression"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, ValueError, "not a known time zone"),
        ({"timezone": "Europe/Paris"}, ValueError, "applies to a cron schedule"),
        ({"every": timedelta(hours=1), "timezone": "UTC"}, ValueError, "applies to cron"),
    ],
)
def test_bad_schedules_are_refused_with_what_to_fix(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    values = {"every": None, "cron": None, "timezone": None, "catch_up": True, **options}
    with pytest.raises(error, match=message):
        Schedule.declared(**values)  # type: ignore[arg-type]


def test_a_task_without_every_or_cron_has_no_schedule() -> None:
    assert Schedule.declared(every=None, cron=None, timezone=None, catch_up=True) is None
