"""Part 5: resident memory per waiting task, measured in a fresh process.

``python -m bench.memory --store sqlite --tasks 100000`` prints one JSON object. One task
holds the runner's only running slot; the others are submitted and stay waiting (the
waiting limit is raised to fit them). RSS is read from /proc after a full garbage
collection, before the first waiting task and every ``tasks / 20`` tasks after it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tasks import MemoryStore, Registry, Runner, SQLiteStore, Store

from .settings import Settings

SUBMITTERS = 256
POINTS = 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def measure(store: Store, count: int) -> dict[str, Any]:
    registry = Registry()
    release = asyncio.Event()

    @registry.task()
    async def hold() -> None:
        await release.wait()

    @registry.task()
    async def noop() -> None:
        return None

    await store.open()
    runner = Runner(registry, store, max_running=1, max_queued=count)
    await runner.start()
    for _ in range(200):  # warm-up: imports, caches and first-use allocations
        await runner.submit("noop")
    await runner.join()
    await runner.submit("hold")
    while runner.running < 1 or runner.waiting:
        await asyncio.sleep(0.01)

    gc.collect()
    points = [(0, rss_bytes())]
    step = max(1, count // POINTS)
    submitted = 0
    while submitted < count:
        batch = min(step, count - submitted)
        await _submit(runner, batch)
        submitted += batch
        gc.collect()
        points.append((runner.waiting, rss_bytes()))
    waiting = runner.waiting
    release.set()
    await runner.close()
    await store.close()
    base, final = points[0][1], points[-1][1]
    return {
        "waiting": waiting,
        "rss_before_mib": base / 2**20,
        "rss_after_mib": final / 2**20,
        "bytes_per_task": (final - base) / waiting,
        "points": points,
    }


async def _submit(runner: Runner, count: int) -> None:
    async def submitter(share: int) -> None:
        for _ in range(share):
            await runner.submit("noop")

    shares = [count // SUBMITTERS + (1 if i < count % SUBMITTERS else 0) for i in range(SUBMITTERS)]
    await asyncio.gather(*(submitter(share) for share in shares if share))


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    rows = []
    for store in ("sqlite", "memory"):
        command = [sys.executable, "-m", "bench.memory", "--store", store]
        command += ["--tasks", str(settings.memory_tasks), "--folder", str(workdir)]
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
        row = {"store": store, **json.loads(done.stdout)}
        rows.append(row)
        print(
            f"  {store:7} {row['waiting']:>7} waiting: RSS {row['rss_before_mib']:.1f} -> "
            f"{row['rss_after_mib']:.1f} MiB, {row['bytes_per_task']:.0f} bytes per waiting task",
            flush=True,
        )
    return {"tasks": settings.memory_tasks, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, default=None)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=options.folder) as folder:
        store: Store = (
            SQLiteStore(Path(folder) / "memory.sqlite3")
            if options.store == "sqlite"
            else MemoryStore()
        )
        print(json.dumps(asyncio.run(measure(store, options.tasks))))


if __name__ == "__main__":
    main()
