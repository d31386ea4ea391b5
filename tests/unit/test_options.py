"""`SubmitOptions`: one value for a submission's options, checked as it is made."""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tasks import (
    InvalidArguments,
    InvalidOptions,
    MemoryStore,
    Registry,
    Runner,
    State,
    SubmitOptions,
    TaskRecord,
)
from tasks.client import TasksClient
from tasks.options import MAX_DELAY, OptionFields

registry = Registry()
CREATED = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


@registry.task(timeout=60, retries=3)
async def ping(note: str = "") -> str:
    return note or "pong"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timeout": 0}, "timeout must be a number of seconds above 0, not 0"),
        ({"timeout": -1.5}, "timeout must be a number of seconds above 0, not -1.5"),
        ({"timeout": float("nan")}, "timeout must be a number of seconds above 0, not nan"),
        ({"timeout": "30"}, "timeout must be a number of seconds above 0, not '30'"),
        ({"retries": -1}, "retries must be a whole number from 0 to 100, not -1"),
        ({"retries": 101}, "retries must be a whole number from 0 to 100, not 101"),
        ({"retries": 1.5}, "retries must be a whole number from 0 to 100, not 1.5"),
        ({"retries": True}, "retries must be a whole number from 0 to 100, not True"),
        ({"priority": 1001}, "priority must be a whole number from -1000 to 1000"),
        ({"priority": "9"}, "priority must be a whole number from -1000 to 1000"),
        ({"delay": -1}, "delay must be a number of seconds from 0 to 1000000000, not -1"),
        ({"delay": float("inf")}, "delay must be a number of seconds from 0 to 1000000000"),
        ({"delay": MAX_DELAY + 1}, "delay must be a number of seconds from 0 to 1000000000"),
        ({"delay": timedelta(seconds=-1)}, "delay must be a number of seconds from 0"),
        ({"delay": "60"}, "delay must be a number of seconds from 0 to 1000000000, not '60'"),
        (
            {"at": datetime(2030, 1, 1, 9, 0)},
            "at must carry its UTC offset, such as 2030-01-01T09:00:00+01:00 or ...Z, "
            "not '2030-01-01T09:00:00'",
        ),
        ({"at": "2030-01-01T09:00:00Z"}, "at must be a datetime with its UTC offset"),
        ({"delay": 5, "at": CREATED}, "give a delay or a moment to run at (at), not both"),
        ({"key": ""}, "an idempotency key must not be empty"),
        ({"key": "x" * 256}, "an idempotency key is at most 255 characters, not 256"),
        ({"key": " padded"}, "an idempotency key is printable ASCII"),
        ({"key": 7}, "an idempotency key is a string, such as a UUID, not 7"),
    ],
)
def test_a_bad_option_is_refused_as_it_is_made(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidOptions) as refused:
        SubmitOptions(**fields)
    assert refused.value.message.startswith(message)
    assert refused.value.code == "invalid_options"


def test_a_change_is_checked_too() -> None:
    with pytest.raises(InvalidOptions, match="not both"):
        SubmitOptions.of(SubmitOptions(delay=5), at=CREATED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        SubmitOptions().timeout = 5  # type: ignore[misc]


def test_fields_left_out_keep_the_tasks_own_settings() -> None:
    options = SubmitOptions()
    assert (options.timeout, options.retries, options.key) == (None, None, None)
    assert options.run_at(CREATED) is None
    assert options.delay_seconds is None


def test_of_sets_the_given_fields_on_the_options() -> None:
    base = SubmitOptions(timeout=30, retries=0)
    assert SubmitOptions.of() == SubmitOptions()
    assert SubmitOptions.of(base) is base
    assert SubmitOptions.of(base, key="k", retries=2) == SubmitOptions(
        timeout=30, retries=2, key="k"
    )
    assert SubmitOptions.of(None, delay=5) == SubmitOptions(delay=5)


def test_the_keyword_form_names_every_field() -> None:
    """`OptionFields` types the keywords of `.options(...)` and `runner.submit(...)`."""
    keywords = typing.get_type_hints(OptionFields)
    fields = typing.get_type_hints(SubmitOptions)
    assert keywords == fields
    assert list(keywords) == [field.name for field in dataclasses.fields(SubmitOptions)]


@pytest.mark.parametrize(
    ("fields", "due"),
    [
        ({"delay": 90}, CREATED + timedelta(seconds=90)),
        ({"delay": timedelta(hours=1)}, CREATED + timedelta(hours=1)),
        ({"delay": 0}, CREATED),
        ({"at": datetime(2030, 1, 1, 11, 0, tzinfo=UTC)}, datetime(2030, 1, 1, 11, 0, tzinfo=UTC)),
        (
            {"at": datetime.fromisoformat("2030-01-01T12:00:00+02:00")},
            datetime(2030, 1, 1, 10, 0, tzinfo=UTC),
        ),
        # beyond the calendar's ends in UTC: the last moment there is, or at once
        ({"at": datetime.max.replace(tzinfo=timezone(-timedelta(hours=1)))}, LATEST),
        ({"at": datetime.min.replace(tzinfo=timezone(timedelta(hours=1)))}, CREATED),
    ],
)
def test_run_at_is_when_the_task_is_due_in_utc(fields: dict[str, Any], due: datetime) -> None:
    moment = SubmitOptions(**fields).run_at(CREATED)
    assert moment == due
    assert moment is not None
    assert moment.utcoffset() == timedelta(0)


def test_delay_seconds_reads_a_timedelta_as_seconds() -> None:
    assert SubmitOptions(delay=timedelta(minutes=2)).delay_seconds == 120
    assert SubmitOptions(delay=1.5).delay_seconds == 1.5


# -- passed on unchanged ------------------------------------------------------------------


@pytest.fixture
async def runner() -> AsyncIterator[Runner]:
    runner = Runner(registry, MemoryStore(), poll_interval=0.05, lease=5.0)
    await runner.start()
    yield runner
    await runner.close()


async def test_the_runner_takes_the_options_as_one_value_or_as_keywords(runner: Runner) -> None:
    record = await runner.submit("ping", {}, SubmitOptions(timeout=5, retries=0, delay=3600))
    assert (record.timeout, record.max_attempts, record.state) == (5, 1, State.SCHEDULED)
    again = await runner.accept("ping", {}, SubmitOptions(key="once"), retries=1)
    assert (again.record.max_attempts, again.record.idempotency_key) == (2, "once")
    replayed = await runner.accept("ping", {}, key="once")
    assert replayed.replayed
    assert replayed.record.id == again.record.id
    own = await runner.submit("ping", enqueue=False)
    assert (own.timeout, own.max_attempts) == (60, 4)


async def test_an_argument_error_comes_before_an_option_error(runner: Runner) -> None:
    """As before the options were one value: arguments are checked first."""
    with pytest.raises(InvalidArguments, match="no_such_argument"):
        await runner.submit("ping", {"no_such_argument": 1}, retries=-1)
    assert await runner.store.query() == []


def test_a_handle_builds_one_value_from_its_keywords_and_a_prepared_one() -> None:
    prepared = SubmitOptions(timeout=30, retries=0)
    assert ping.options(timeout=30, retries=0).options == prepared
    assert ping.options(prepared, key="k").options == SubmitOptions(timeout=30, retries=0, key="k")
    assert ping.options().options == SubmitOptions()
    with pytest.raises(InvalidOptions, match="retries must be"):
        ping.options(prepared, retries=-1)


async def test_the_client_sends_the_options_in_the_query_and_the_key_as_a_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json=TaskRecord.new("ping", {}).to_dict())

    transport = httpx.MockTransport(handler)
    moment = datetime.fromisoformat("2030-01-01T09:00:00+01:00")
    async with TasksClient("http://tasks.test", transport=transport) as client:
        await client.submit("ping", {"note": "a"}, SubmitOptions(delay=timedelta(minutes=1)))
        await client.submit("ping", None, SubmitOptions(timeout=2.5), at=moment, key="k-1")
        with pytest.raises(InvalidOptions, match="not both"):
            await client.submit("ping", None, SubmitOptions(delay=1), at=moment)
        with pytest.raises(InvalidOptions, match="cannot go over HTTP"):
            await client.submit("ping", None, connection=object())
    assert len(seen) == 2
    assert dict(seen[0].url.params) == {"delay": "60.0"}
    assert json.loads(seen[0].content) == {"note": "a"}
    assert "Idempotency-Key" not in seen[0].headers
    assert dict(seen[1].url.params) == {"timeout": "2.5", "at": "2030-01-01T09:00:00+01:00"}
    assert seen[1].headers["Idempotency-Key"] == "k-1"


def test_a_connection_rides_along_without_changing_what_the_options_are() -> None:
    connection = object()
    joined = ping.options(connection=connection, key="k").options
    assert joined.connection is connection
    assert joined == SubmitOptions(key="k")  # the other fields say how the task runs
    assert SubmitOptions.of(joined, timeout=3).connection is connection
