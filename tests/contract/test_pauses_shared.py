"""A pause through one process holds in every other, on each durable store: on SQLite at
once (each start reads the paused queues), on PostgreSQL from the moment its ``NOTIFY``
reaches the process (each keeps them in memory: a read per start would cost 40 % of the
throughput)."""

from __future__ import annotations

import asyncio

from tasks import Registry, Runner, State, TaskRecord, store_from_url
from tasks.store import AnnouncesPauses
from tests.harness import WAIT

registry = Registry()


@registry.task()
async def note(label: str) -> str:
    return label


async def test_a_task_accepted_after_a_pause_elsewhere_starts_nowhere(database_url: str) -> None:
    stores = [store_from_url(database_url), store_from_url(database_url)]
    runners = [Runner(registry, store, poll_interval=10.0, lease=30.0) for store in stores]
    heard = asyncio.Event()
    announced = isinstance(stores[1], AnnouncesPauses)
    for store, runner in zip(stores, runners, strict=True):
        await store.open()
        if store is stores[1] and isinstance(store, AnnouncesPauses):
            store.watch_pauses(heard.set)  # the runner's own watcher is called in the same turn
        await runner.start()
    pausing, other = runners

    async def announced_to_the_other() -> None:
        """Each announcement in turn (they arrive in commit order), where there are any."""
        if announced:
            async with asyncio.timeout(WAIT):
                await heard.wait()
            heard.clear()

    try:
        await announced_to_the_other()  # listening
        for round_ in range(5):
            await pausing.pauses.pause("default")
            await announced_to_the_other()
            accepted = [await other.submit("note", {"label": f"{round_}-{n}"}) for n in range(5)]
            await other.join()
            for record in accepted:
                found = await stores[1].get(record.id)
                assert found is not None
                assert (found.state, found.owner, found.attempts) == (State.QUEUED, None, 0)
            await pausing.pauses.resume("default")  # claimed by it at once
            await announced_to_the_other()
            async with asyncio.timeout(WAIT):
                done: list[TaskRecord] = [
                    await pausing.wait(record.id, poll_interval=0.05) for record in accepted
                ]
            assert {record.state for record in done} == {State.SUCCEEDED}
    finally:
        for store, runner in zip(stores, runners, strict=True):
            await runner.close()
            await store.close()
