"""Concurrency and rate limits, through one runner: what a task may declare, how many of its
tasks run at once (per key), how many start in a window, and what a held-back task is."""

from __future__ import annotations

import asyncio
import time

import pytest

from tasks import MemoryStore, Registry, State
from tasks.cli.queue_commands import format_queues
from tasks.limits import RateLimit, TaskLimits, group_key
from tests.harness import WAIT, RunnerFactory


def test_a_rate_limit_is_a_count_per_second_minute_or_hour() -> None:
    assert RateLimit.parse("10/s") == RateLimit(10, 1.0, "10/s")
    assert RateLimit.parse(" 5 / m ") == RateLimit(5, 60.0, "5/m")
    assert RateLimit.parse("100/h").period == 3600.0
    for wrong in ("10", "0/s", "-1/s", "10/d", "1.5/s", "ten/s", ""):
        with pytest.raises(ValueError, match="rate_limit is"):
            RateLimit.parse(wrong)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency is a whole number from 1"),
        ({"concurrency": True}, "concurrency is a whole number from 1"),
        ({"concurrency": 2.5}, "concurrency is a whole number from 1"),
        ({"concurrency_key": "tenant"}, "needs a concurrency"),
        ({"concurrency": 1, "concurrency_key": "user"}, "its parameters: tenant, rows"),
        ({"rate_limit": "fast"}, "rate_limit is"),
    ],
)
def test_wrong_limits_are_refused_when_the_task_is_registered(
    registry: Registry, options: dict[str, object], message: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=message):

        @registry.task(**options)  # type: ignore[arg-type]
        def export(tenant: str, rows: int) -> None: ...


def test_the_limits_are_part_of_the_task_type(registry: Registry) -> None:
    @registry.task(queue="email", concurrency=4, rate_limit="10/s")
    async def send_email(to: str, tenant: str) -> None: ...

    @registry.task(concurrency=1, concurrency_key="tenant")
    def export(tenant: str, rows: int) -> None: ...

    @registry.task
    def plain() -> None: ...

    described = {task.name: task.to_dict() for task in registry}
    limits = ("concurrency", "concurrency_key", "rate_limit")
    assert [described["send_email"][field] for field in limits] == [4, None, "10/s"]
    assert described["export"]["concurrency"] == 1
    assert described["export"]["concurrency_key"] == "tenant"
    assert described["plain"]["concurrency"] is None
    assert described["plain"]["rate_limit"] is None
    assert registry.get("plain").limits is None


def test_each_key_value_is_a_group_of_its_own() -> None:
    limits = TaskLimits(concurrency=1, concurrency_key="tenant")
    assert limits.for_start({"tenant": "a", "rows": 1}).key == '"a"'
    assert limits.for_start({"tenant": 1}).key == "1"  # not the same group as "1"
    assert limits.for_start({"tenant": "1"}).key == '"1"'
    long = group_key("x" * 1000)
    assert long.startswith("sha256:")
    assert len(long) < 100
    assert TaskLimits(concurrency=3).for_start({"tenant": "a"}).key == ""


class Gauge:
    """How many run at once, overall and by key, and the most ever seen."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.starts: list[float] = []

    def enter(self, key: str = "") -> None:
        self.starts.append(time.monotonic())
        self.now[key] = self.now.get(key, 0) + 1
        self.most[key] = max(self.most.get(key, 0), self.now[key])

    def leave(self, key: str = "") -> None:
        self.now[key] -= 1


async def test_no_more_than_the_concurrency_run_at_once(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    gauge = Gauge()

    @registry.task(concurrency=2)
    async def render(n: int) -> int:
        gauge.enter()
        await asyncio.sleep(0.01)
        gauge.leave()
        return n

    runner = await make_runner(max_running=8)
    records = [await runner.submit("render", {"n": n}) for n in range(12)]
    async with asyncio.timeout(WAIT):
        done = [await runner.wait(record.id, poll_interval=0.05) for record in records]
    assert [record.result for record in done] == list(range(12))
    assert gauge.most[""] == 2
    assert all(record.attempts == 1 for record in done)  # waiting was not an attempt


async def test_other_keys_run_while_one_key_has_a_backlog(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    gauge = Gauge()
    b_started = asyncio.Event()

    @registry.task(concurrency=1, concurrency_key="tenant")
    async def export(tenant: str, rows: int) -> str:
        gauge.enter(tenant)
        if tenant == "b":
            b_started.set()
        else:
            await b_started.wait()  # a's first export runs until b's has started beside it
        await asyncio.sleep(0.005)
        gauge.leave(tenant)
        return tenant

    runner = await make_runner(max_running=4)
    records = [await runner.submit("export", {"tenant": "a", "rows": n}) for n in range(6)]
    records += [await runner.submit("export", {"tenant": "b", "rows": n}) for n in range(3)]
    async with asyncio.timeout(WAIT):
        done = [await runner.wait(record.id, poll_interval=0.05) for record in records]
    assert {record.state for record in done} == {State.SUCCEEDED}
    assert gauge.most == {"a": 1, "b": 1}


async def test_a_held_back_task_waits_queued_without_a_slot_and_can_be_cancelled(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    release = asyncio.Event()

    @registry.task(concurrency=1)
    async def single(n: int) -> int:
        await release.wait()
        return n

    @registry.task
    async def other() -> str:
        return "ran"

    runner = await make_runner(max_running=2)
    first = await runner.submit("single", {"n": 1})
    second = await runner.submit("single", {"n": 2})
    third = await runner.submit("single", {"n": 3})
    async with asyncio.timeout(WAIT):
        while runner.limited < 2:  # both refused, neither holds a slot
            await asyncio.sleep(0.01)
        ran = await runner.wait((await runner.submit("other")).id, poll_interval=0.05)
    assert ran.result == "ran"  # one slot runs `single`, the other is free for the rest
    held = await runner.get(second.id)
    assert (held.state, held.attempts, held.owner) == (State.QUEUED, 0, runner.owner)
    assert (await runner.cancel(third.id)).state is State.CANCELLED
    release.set()
    async with asyncio.timeout(WAIT):
        done = [await runner.wait(record.id, poll_interval=0.05) for record in (first, second)]
    assert [record.result for record in done] == [1, 2]
    assert (await runner.get(third.id)).attempts == 0


async def test_higher_priority_goes_first_among_held_back_tasks(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    release = asyncio.Event()
    order: list[int] = []

    @registry.task(concurrency=1)
    async def single(n: int) -> None:
        order.append(n)
        await release.wait()

    runner = await make_runner(max_running=4)
    records = [await runner.submit("single", {"n": 0})]
    async with asyncio.timeout(WAIT):
        while order != [0]:
            await asyncio.sleep(0.01)
    records += [await runner.submit("single", {"n": n}) for n in (1, 2)]
    records.append(await runner.submit("single", {"n": 3}, priority=5))
    async with asyncio.timeout(WAIT):
        while runner.limited < 3:
            await asyncio.sleep(0.01)
        release.set()
        for record in records:
            await runner.wait(record.id, poll_interval=0.05)
    assert order == [0, 3, 1, 2]


async def test_no_more_than_the_rate_start_in_any_window(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    gauge = Gauge()

    @registry.task(rate_limit="20/s")
    async def ping(n: int) -> int:
        gauge.enter()
        gauge.leave()
        return n

    store = MemoryStore()
    runner = await make_runner(store, max_running=8)
    began = time.monotonic()
    records = [await runner.submit("ping", {"n": n}) for n in range(45)]
    async with asyncio.timeout(WAIT):
        done = [await runner.wait(record.id, poll_interval=0.05) for record in records]
    assert {record.state for record in done} == {State.SUCCEEDED}
    assert time.monotonic() - began >= 2.0  # 45 starts at 20 in any second
    starts = sorted(gauge.starts)
    # the store admits exactly; a start is seen a moment after its admission: one more at most
    assert max(sum(1 for s in starts if t <= s < t + 1.0) for t in starts) <= 21


async def test_the_time_waited_for_a_limit_is_told(
    registry: Registry, make_runner: RunnerFactory
) -> None:
    release = asyncio.Event()
    waits: list[tuple[str, float]] = []

    @registry.task(concurrency=1)
    async def single(n: int) -> None:
        await release.wait()

    runner = await make_runner()
    runner.on_limit_wait(lambda name, seconds: waits.append((name, seconds)))
    first, second = await runner.submit("single", {"n": 1}), await runner.submit("single", {"n": 2})
    async with asyncio.timeout(WAIT):
        while runner.limited < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the second waits at least this long
        release.set()
        await runner.wait(first.id, poll_interval=0.05)
        await runner.wait(second.id, poll_interval=0.05)
    assert [name for name, _ in waits] == ["single", "single"]
    assert waits[0][1] < 0.05 <= waits[1][1]


def test_the_queue_listing_of_the_cli_ends_with_the_limits() -> None:
    limit = {"task": "export", "concurrency": 1, "concurrency_key": "tenant", "rate_limit": "5/m"}
    queue = {"name": "default", "paused": False, "waiting": 3, "running": 1, "tasks": ["export"]}
    lines = format_queues([queue | {"limits": [limit]}]).splitlines()
    assert lines[-2:] == [
        "LIMITS (across every process)",
        "export: at most 1 running per tenant, at most 5/m starts",
    ]
    assert "LIMITS" not in format_queues([queue | {"limits": []}])
