"""Part 11: what a workflow step costs, on SQLite and PostgreSQL, no HTTP.

A durable task runs ``steps`` steps of a no-op coroutine (``current_task().step``); each
step is one write of the task's record, committed before the step returns. Its cost is the
difference between that task and the same task with no step, divided by the steps run: wall
time (what a workflow waits) and this process's CPU time. Measured with one task at a time
(each step waits for its own commit) and with eight at once (their writes share commits),
through a :class:`tasks.Runner` with the default limits. The record holds every step, so a
write grows with the steps before it: two sizes of workflow show how much.

PostgreSQL is found as part 6 finds it (``stores.py``); without a server its rows are left
out and the reason recorded.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from tasks import Registry, Runner, Store, current_task

from . import stores
from .loops import run_on
from .settings import Settings

registry = Registry()


async def _nothing(n: int) -> int:
    return n


@registry.task(name="stepped", durable=True)
async def _stepped(steps: int) -> int:
    task = current_task()
    for number in range(steps):
        await task.step(f"step-{number}", _nothing, number)
    return steps


async def _run(runner: Runner, steps: int, at_once: int) -> tuple[float, float]:
    """Wall and CPU seconds to run ``at_once`` tasks of ``steps`` steps each, to their end."""
    start, cpu = time.perf_counter(), time.process_time()
    records = [await runner.submit("stepped", {"steps": steps}) for _ in range(at_once)]
    for record in records:
        await runner.wait(record.id, poll_interval=0.01)
    return time.perf_counter() - start, time.process_time() - cpu


async def measure(store: Store, steps: int, at_once: int) -> dict[str, float]:
    """Microseconds of wall and CPU time per step: a task with steps, less one without."""
    await store.open()
    runner = Runner(registry, store)
    await runner.start()
    try:
        await _run(runner, 2, at_once)  # warm-up: first-use costs
        bare_wall, bare_cpu = await _run(runner, 0, at_once)
        wall, cpu = await _run(runner, steps, at_once)
    finally:
        await runner.close()
        await store.close()
    count = steps * at_once
    return {
        "wall_us_per_step": max(0.0, wall - bare_wall) / count * 1e6,
        "cpu_us_per_step": max(0.0, cpu - bare_cpu) / count * 1e6,
        "steps_per_s": count / max(wall - bare_wall, 1e-9),
    }


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    loop = settings.worker_classes[-1]
    server, unavailable = stores._postgres_server()
    kinds = ["sqlite"] + (["postgres"] if server else [])
    sizes = (5,) if settings.smoke else (10, 100)
    rows = []
    for kind in kinds:
        for steps in sizes:
            for at_once in (1, 8):
                rounds = []
                for number in range(settings.engine_repeats):
                    path = workdir / f"steps-{number}.sqlite3"
                    with stores._store_location(kind, path, server) as where:
                        store = stores._store(kind, where)
                        rounds.append(run_on(loop, measure(store, steps, at_once)))
                row = {
                    "store": kind,
                    "steps": steps,
                    "at_once": at_once,
                    **{
                        key: statistics.median(r[key] for r in rounds)
                        for key in ("wall_us_per_step", "cpu_us_per_step", "steps_per_s")
                    },
                    "rounds": rounds,
                }
                rows.append(row)
                print(
                    f"  {loop:8} {kind:9} {steps:4} steps x{at_once}: "
                    f"{row['wall_us_per_step']:9.0f} us/step wall "
                    f"{row['cpu_us_per_step']:7.0f} us CPU {row['steps_per_s']:8.0f} steps/s",
                    flush=True,
                )
    return {"loop": loop, "rows": rows, "postgres": unavailable or "measured"}
