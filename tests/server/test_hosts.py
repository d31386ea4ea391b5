"""Several machines on one store: process ids are checked only on the owner's own host.

Two hosts are simulated with ``host_id`` (``TASKS_HOST_ID``): a runner on "machine-b" must
not judge "machine-a"'s process ids by its own process table, so a dead owner there is
waited out until its lease ends; a runner on "machine-a" itself takes over at once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest

from tasks import Registry, Runner, State, Store, TaskRecord
from tasks.ownership import owner_is_dead
from tests.harness import WAIT

LEASE = 0.6  # seconds the dead owner's lease has left


@pytest.fixture
def registry() -> Registry:
    registry = Registry()

    @registry.task()
    async def once(n: int = 0) -> int:
        return n

    return registry


@pytest.fixture
def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
async def runners() -> AsyncIterator[list[Runner]]:
    started: list[Runner] = []
    yield started
    for runner in started:
        await runner.close()


async def start(registry: Registry, store: Store, host: str, runners: list[Runner]) -> Runner:
    runner = Runner(registry, store, poll_interval=0.05, lease=5.0, host_id=host)
    await runner.start()
    runners.append(runner)
    return runner


async def test_a_dead_remote_owner_s_tasks_are_claimed_only_after_its_lease(
    store: Store, registry: Registry, dead_pid: int, runners: list[Runner]
) -> None:
    remote = f"machine-a:{dead_pid}:gone"
    left = TaskRecord.new("once", {"n": 5})
    await store.create(left, owner=remote, lease=LEASE)
    created = time.monotonic()
    here = await start(registry, store, "machine-b", runners)
    assert here.owner.startswith("machine-b:")
    assert not owner_is_dead(remote, host="machine-b")
    still = await store.get(left.id)
    assert still is not None
    assert still.owner == remote  # the first claim, at start, left it alone
    async with asyncio.timeout(WAIT):
        done = await here.wait(left.id, poll_interval=0.05)
    assert (done.state, done.result) == (State.SUCCEEDED, 5)
    assert time.monotonic() - created >= LEASE


async def test_a_dead_owner_on_the_same_host_is_taken_over_at_once(
    store: Store, registry: Registry, dead_pid: int, runners: list[Runner]
) -> None:
    remote = f"machine-a:{dead_pid}:gone"
    left = TaskRecord.new("once", {"n": 6})
    await store.create(left, owner=remote, lease=3600)
    here = await start(registry, store, "machine-a", runners)
    async with asyncio.timeout(WAIT):
        done = await here.wait(left.id, poll_interval=0.05)
    assert (done.state, done.result) == (State.SUCCEEDED, 6)
