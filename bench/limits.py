"""Part 12: what a concurrency or rate limit costs per task, on SQLite and PostgreSQL, no HTTP.

A limited task's start is admitted by the store: one transaction that counts the task's
running records (concurrency) or its recent starts (rate) before it writes the start, instead
of the start joining the next batch of writes. The cost is measured on limits that never hold
a task back, so that it is the price of the check alone: ``concurrency=8`` with 8 running
slots; ``concurrency=1`` per ``concurrency_key`` with a key of its own per task; and a rate of
a million a second, whose window holds every start of the last second. Each row runs the
same no-op coroutine tasks through a :class:`tasks.Runner` with the default limits, all
submitted at once, until the runner is idle; the difference from the row without a limit is
the cost.

PostgreSQL is found as part 6 finds it (``stores.py``); without a server its rows are left
out and the reason recorded.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from tasks import Registry, Runner, State, Store

from . import stores
from .loops import run_on
from .settings import Settings

registry = Registry()


@registry.task(name="none")
async def _none(key: int) -> None:
    return None


@registry.task(name="concurrency", concurrency=8)
async def _concurrency(key: int) -> None:
    return None


@registry.task(name="concurrency_key", concurrency=1, concurrency_key="key")
async def _keyed(key: int) -> None:
    return None


@registry.task(name="rate_limit", rate_limit="1000000/s")
async def _rated(key: int) -> None:
    return None


LIMITS = ("none", "concurrency", "concurrency_key", "rate_limit")


async def _run(runner: Runner, name: str, count: int) -> tuple[float, float]:
    """Wall and CPU seconds to run ``count`` tasks of ``name``, submitted at once (their
    inserts share commits), to their end."""
    start, cpu = time.perf_counter(), time.process_time()
    records = await asyncio.gather(*(runner.submit(name, {"key": n}) for n in range(count)))
    await runner.join()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    ended = await asyncio.gather(*(runner.get(record.id) for record in records))
    assert {record.state for record in ended} == {State.SUCCEEDED}, "a task did not succeed"
    return elapsed, used


async def measure(store: Store, count: int) -> dict[str, dict[str, float]]:
    """Tasks per second and CPU microseconds per task, for each limit, on one store."""
    await store.open()
    runner = Runner(registry, store, max_queued=count)
    await runner.start()
    try:
        found = {}
        for name in LIMITS:
            await _run(runner, name, min(count, 50))  # warm-up: first-use costs
            wall, cpu = await _run(runner, name, count)
            found[name] = {"tasks_per_s": count / wall, "cpu_us_per_task": cpu / count * 1e6}
    finally:
        await runner.close()
        await store.close()
    return found


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    loop = settings.worker_classes[-1]
    server, unavailable = stores._postgres_server()
    kinds = ["sqlite"] + (["postgres"] if server else [])
    count = max(100, settings.engine_tasks // 5)
    rows = []
    for kind in kinds:
        rounds = []
        for number in range(settings.engine_repeats):
            path = workdir / f"limits-{number}.sqlite3"
            with stores._store_location(kind, path, server) as where:
                rounds.append(run_on(loop, measure(stores._store(kind, where), count)))
        for name in LIMITS:
            row = {
                "store": kind,
                "limit": name,
                "tasks": count,
                **{
                    key: statistics.median(r[name][key] for r in rounds)
                    for key in ("tasks_per_s", "cpu_us_per_task")
                },
            }
            rows.append(row)
        bare = rows[-len(LIMITS)]
        for row in rows[-len(LIMITS) :]:
            row["cpu_us_over_none"] = row["cpu_us_per_task"] - bare["cpu_us_per_task"]
            row["share_of_none"] = row["tasks_per_s"] / bare["tasks_per_s"]
            print(
                f"  {loop:8} {kind:9} {row['limit']:16} {row['tasks_per_s']:8.0f} tasks/s "
                f"{row['cpu_us_per_task']:7.0f} us CPU/task "
                f"(+{row['cpu_us_over_none']:.0f} us, {row['share_of_none']:.2f} x)",
                flush=True,
            )
    return {"loop": loop, "rows": rows, "postgres": unavailable or "measured"}
