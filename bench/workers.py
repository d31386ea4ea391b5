"""Part 10 (``--parts workers``, not in the default run): tasks/s through worker processes.

End to end through the HTTP API: ``TASKS`` sleep-bound tasks (the example ``sleep``, a thread
blocked for ``SECONDS``) are posted to a Hypercorn web process as fast as ``CLIENTS``
connections allow, and the clock stops when the last one has ended in the store. Three
deployments on the same PostgreSQL server, each with a fresh database:

- in-process: the web runs its tasks itself, ``CONCURRENCY`` at once (no broker);
- one ``tasks worker --concurrency CONCURRENCY`` process behind a web on a Redis broker;
- two such workers;
- one and two such workers without a broker, behind a web with ``TASKS_RUN_TASKS=false``
  (they take the tasks from the store).

Sleep-bound tasks leave the CPUs mostly idle, so what is measured is how the work spreads
over the workers (two should give twice the throughput of one) and what each task costs
in CPU (web and workers together, from their processes' accounting).

The broker is ``TASKS_BENCH_WORKERS_REDIS_URL`` (default ``redis://127.0.0.1:6379/10``) with a
stream of its own per deployment, deleted afterwards; PostgreSQL as in part 6.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx

from tasks import State
from tasks.store.postgres import PostgresStore

from .servers import ROOT, Server, product
from .settings import Settings
from .stores import _postgres_server, _store_location

DEFAULT_REDIS = "redis://127.0.0.1:6379/10"
CONCURRENCY = 8
CLIENTS = 16
READY = "tasks worker ready"


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    loop = settings.worker_classes[-1]
    tasks, seconds = (40, 0.1) if settings.smoke else (480, 0.5)
    server, unavailable = _postgres_server()
    redis = os.environ.get("TASKS_BENCH_WORKERS_REDIS_URL") or DEFAULT_REDIS
    if server is None:
        return {"unavailable": unavailable, "rows": []}
    rows = []
    for workers, broker in ((0, True), (1, True), (2, True), (1, False), (2, False)):
        with _store_location("postgres", workdir / "unused", server) as database:
            row = _deployment(
                loop, database, redis if broker else "", workers, tasks, seconds, logs
            )
        rows.append(row)
        print(
            f"  {row['deployment']:22} {row['tasks_per_s']:7.1f} tasks/s, "
            f"{row['cpu_ms_per_task']:6.2f} ms CPU/task",
            flush=True,
        )
    one, two = rows[1]["tasks_per_s"], rows[2]["tasks_per_s"]
    store_one, store_two = rows[3]["tasks_per_s"], rows[4]["tasks_per_s"]
    return {
        "tasks": tasks,
        "seconds": seconds,
        "concurrency": CONCURRENCY,
        "clients": CLIENTS,
        "loop": loop,
        "broker": "redis",
        "rows": rows,
        "two_over_one": two / one if one else float("nan"),
        "two_over_one_brokerless": store_two / store_one if store_one else float("nan"),
    }


def _deployment(
    loop: str,
    database: str,
    redis: str,
    workers: int,
    tasks: int,
    seconds: float,
    logs: Path,
) -> dict[str, Any]:
    queue = f"bench-{uuid.uuid4().hex[:10]}"
    env = {"QUART_TASKS_MAX_RUNNING": str(CONCURRENCY), "QUART_TASKS_MAX_QUEUED": "10000"}
    if workers and redis:
        env |= {"QUART_TASKS_BROKER": redis, "QUART_TASKS_BROKER_QUEUE": queue}
    elif workers:
        env |= {"QUART_TASKS_RUN_TASKS": "false"}
    name = "in-process" if not workers else f"{workers} worker{'s' * (workers > 1)}"
    name += ", no broker" if workers and not redis else ""
    spec = product(loop, database, **env)
    web = Server(spec, logs / f"workers-web-{workers}{'' if redis else '-store'}.log")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for number in range(workers):
            log = logs / f"workers-{workers}{'' if redis else '-store'}-{number}.log"
            processes.append(_worker(database, env, log))
        web.start()
        cpu_before = web.cpu_seconds() + sum(_cpu_seconds(p.pid) for p in processes)
        elapsed = asyncio.run(_drive(web.url, database, tasks, seconds))
        cpu = web.cpu_seconds() + sum(_cpu_seconds(p.pid) for p in processes) - cpu_before
    finally:
        web.kill()
        for process in processes:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        if workers and redis:
            _delete_stream(redis, queue)
    return {
        "deployment": name,
        "workers": workers,
        "slots": CONCURRENCY * max(1, workers),
        "elapsed_s": elapsed,
        "tasks_per_s": tasks / elapsed,
        "ideal_tasks_per_s": CONCURRENCY * max(1, workers) / seconds,
        "cpu_ms_per_task": 1000 * cpu / tasks,
    }


def _worker(database: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "quart", "--app", "quart_app:create_app()",
        "tasks", "worker", "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "QUART_TASKS_DATABASE": database, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while READY not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start; see {log_path}")
        time.sleep(0.05)  # the child gives no other signal that it is ready
    return process


async def _drive(url: str, database: str, tasks: int, seconds: float) -> float:
    """Post every task, then wait until all have ended; seconds from the first post."""
    store = PostgresStore(database, pool_size=2)
    await store.open()
    try:
        began = time.perf_counter()
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            remaining = iter(range(tasks))

            async def post_all() -> None:
                for _ in remaining:
                    response = await client.post("/tasks/sleep", json={"seconds": seconds})
                    response.raise_for_status()

            await asyncio.gather(*(post_all() for _ in range(CLIENTS)))
        while await store.count(State.SUCCEEDED) < tasks:
            await asyncio.sleep(0.02)  # other processes run the tasks: poll the store
        return time.perf_counter() - began
    finally:
        await store.close()


def _cpu_seconds(group: int) -> float:
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _delete_stream(url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.delete(queue, f"autoclaim:{queue}:{queue}")
    finally:
        client.close()
