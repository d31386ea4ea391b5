"""Part 3: engine throughput, no HTTP: tracked no-op tasks per second through the tasks API.

A :class:`tasks.Runner` with the product's default limits runs no-op tasks, coroutine or
thread, tracked in a SQLite or in-memory store. Submissions come from ``SUBMITTERS``
concurrent callers, as concurrent requests would make them; the clock stops when the runner
is idle, so a figure counts accepting, running and recording each task to its end. The limit
to compare with is raw asyncio doing the same with nothing tracked: ``asyncio.create_task``
(coroutines) and ``asyncio.to_thread`` on a pool of the same size (threads).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tasks import MemoryStore, Registry, Runner, SQLiteStore, Store
from tasks import Settings as TaskSettings

from .loops import run_on
from .settings import Settings

SUBMITTERS = 256
DEFAULTS = TaskSettings()
_databases = itertools.count(1)

registry = Registry()


@registry.task(name="noop")
async def _noop() -> None:
    return None


@registry.task(name="noop_thread")
def _noop_thread() -> None:
    return None


def _nothing() -> None:
    return None


async def tracked(store: Store, task: str, count: int) -> dict[str, float]:
    """Submit ``count`` tasks and run them all; return tasks/s end to end and for acceptance."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(DEFAULTS.thread_count))
    await store.open()
    runner = Runner(registry, store, max_running=DEFAULTS.max_running, max_queued=count)
    await runner.start()
    try:
        await _submit(runner, task, min(count, 200))  # warm-up: first-use costs
        await runner.join()
        start, cpu = time.perf_counter(), time.process_time()
        await _submit(runner, task, count)
        accepted = time.perf_counter()
        await runner.join()
        done, used = time.perf_counter(), time.process_time() - cpu
    finally:
        await runner.close()
        await store.close()
    return {
        "tasks_per_s": count / (done - start),
        "accepted_per_s": count / (accepted - start),
        "cpu_us_per_task": used / count * 1e6,
    }


async def _submit(runner: Runner, task: str, count: int) -> None:
    async def submitter(share: int) -> None:
        for _ in range(share):
            await runner.submit(task)

    shares = [count // SUBMITTERS + (1 if i < count % SUBMITTERS else 0) for i in range(SUBMITTERS)]
    await asyncio.gather(*(submitter(share) for share in shares if share))


async def raw_coroutines(count: int) -> dict[str, float]:
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*[asyncio.create_task(_noop()) for _ in range(count)])
    return _rates(count, start, cpu)


async def raw_threads(count: int) -> dict[str, float]:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(DEFAULTS.thread_count))
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*[asyncio.to_thread(_nothing) for _ in range(count)])
    return _rates(count, start, cpu)


def _rates(count: int, start: float, cpu: float) -> dict[str, float]:
    return {
        "tasks_per_s": count / (time.perf_counter() - start),
        "cpu_us_per_task": (time.process_time() - cpu) / count * 1e6,
    }


CONFIGS = (
    ("raw_create_task", "raw asyncio.create_task", "coroutine", None),
    ("raw_to_thread", "raw asyncio.to_thread", "thread", None),
    ("sqlite_coroutine", "tracked, SQLite store", "coroutine", "sqlite"),
    ("sqlite_thread", "tracked, SQLite store", "thread", "sqlite"),
    ("memory_coroutine", "tracked, memory store", "coroutine", "memory"),
    ("memory_thread", "tracked, memory store", "thread", "memory"),
)


def measure(key: str, loop: str, count: int, raw_count: int, folder: Path) -> dict[str, float]:
    _, _, kind, store_kind = next(config for config in CONFIGS if config[0] == key)
    if store_kind is None:
        raw = raw_coroutines if kind == "coroutine" else raw_threads
        return run_on(loop, raw(raw_count if kind == "coroutine" else count))
    task = "noop" if kind == "coroutine" else "noop_thread"
    store: Store = (
        SQLiteStore(folder / f"engine-{next(_databases)}.sqlite3")
        if store_kind == "sqlite"
        else MemoryStore()
    )
    return run_on(loop, tracked(store, task, count))


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}
    for number in range(settings.engine_repeats):
        for loop in settings.worker_classes:
            for key, label, kind, _ in CONFIGS:
                result = measure(
                    key, loop, settings.engine_tasks, settings.engine_raw_tasks, workdir
                )
                samples.setdefault((key, loop), []).append(result)
                print(
                    f"  round {number + 1} {loop:8} {label:26} {kind:9} "
                    f"{result['tasks_per_s']:10.0f} tasks/s"
                    f" {result['cpu_us_per_task']:7.1f} us CPU/task",
                    flush=True,
                )
    rows = []
    for (key, loop), results in samples.items():
        _, label, kind, store = next(config for config in CONFIGS if config[0] == key)
        row: dict[str, Any] = {
            "key": key,
            "loop": loop,
            "label": label,
            "kind": kind,
            "store": store,
            "tasks_per_s": statistics.median(result["tasks_per_s"] for result in results),
            "cpu_us_per_task": statistics.median(r["cpu_us_per_task"] for r in results),
            "rounds": results,
        }
        if store is not None:
            row["accepted_per_s"] = statistics.median(r["accepted_per_s"] for r in results)
        rows.append(row)
    return {
        "tasks": settings.engine_tasks,
        "raw_coroutine_tasks": settings.engine_raw_tasks,
        "submitters": SUBMITTERS,
        "max_running": DEFAULTS.max_running,
        "threads": DEFAULTS.thread_count,
        "rows": rows,
    }


def find(result: dict[str, Any], key: str, loop: str) -> dict[str, Any] | None:
    return next((r for r in result["rows"] if r["key"] == key and r["loop"] == loop), None)
