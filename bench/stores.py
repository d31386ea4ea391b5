"""Part 6: the stores side by side, in one run: memory, SQLite and PostgreSQL.

Engine throughput is part 3's measurement (tracked no-op coroutine tasks per second through
a :class:`tasks.Runner` with the default limits, ``SUBMITTERS`` concurrent callers) with
each store in turn. Event latency is the time from a write made by this process (a task
stored through a store of its own) to its arrival on the ``/events`` stream of a server in
another process: PostgreSQL wakes the server through ``LISTEN/NOTIFY``; SQLite is found by
the server's poll (``EVENTS_POLL_INTERVAL``, 0.5 s).

PostgreSQL is the server of ``TASKS_BENCH_POSTGRES_URL`` (else ``TASKS_TEST_POSTGRES_URL``,
else user postgres on 127.0.0.1:5432); each measurement gets a fresh database, dropped
afterwards. Without a server, the PostgreSQL rows are left out and the reason recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tasks import MemoryStore, SQLiteStore, Store, TaskRecord, store_from_url

from . import engine
from .loops import run_on
from .servers import product, serving
from .settings import Settings

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    loop = settings.worker_classes[-1]
    server, unavailable = _postgres_server()
    kinds = ["memory", "sqlite"] + (["postgres"] if server else [])
    rows = []
    for kind in kinds:
        rounds = []
        for number in range(settings.engine_repeats):
            with _store_location(kind, workdir / f"stores-{number}.sqlite3", server) as where:
                rounds.append(
                    run_on(loop, engine.tracked(_store(kind, where), "noop", settings.engine_tasks))
                )
            print(
                f"  round {number + 1} {loop:8} {kind:9} {rounds[-1]['tasks_per_s']:10.0f} tasks/s",
                flush=True,
            )
        rows.append(
            {
                "store": kind,
                "tasks_per_s": statistics.median(r["tasks_per_s"] for r in rounds),
                "accepted_per_s": statistics.median(r["accepted_per_s"] for r in rounds),
                "cpu_us_per_task": statistics.median(r["cpu_us_per_task"] for r in rounds),
                "rounds": rounds,
            }
        )
    samples = 5 if settings.smoke else 50
    events = []
    for kind in kinds[1:]:
        with (
            _store_location(kind, workdir / "events.sqlite3", server) as where,
            serving(product(loop, where), logs, f"stores-events-{kind}") as served,
        ):
            delays = run_on(loop, _event_delays(served.url, where, samples))
        delays_ms = sorted(delay * 1000 for delay in delays)
        events.append(
            {
                "store": kind,
                "n": len(delays_ms),
                "p50_ms": statistics.median(delays_ms),
                "p90_ms": delays_ms[int(0.9 * (len(delays_ms) - 1))],
                "max_ms": delays_ms[-1],
            }
        )
        print(f"  events   {kind:9} p50 {events[-1]['p50_ms']:7.1f} ms", flush=True)
    return {
        "tasks": settings.engine_tasks,
        "loop": loop,
        "submitters": engine.SUBMITTERS,
        "rows": rows,
        "events": events,
        "postgres": unavailable or "measured",
    }


def _postgres_server() -> tuple[str | None, str | None]:
    import psycopg

    url = (
        os.environ.get("TASKS_BENCH_POSTGRES_URL")
        or os.environ.get("TASKS_TEST_POSTGRES_URL")
        or DEFAULT_SERVER
    )
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        reason = f"not measured: no PostgreSQL server at {url} ({exc})"
        print(f"  {reason}", flush=True)
        return None, reason
    return url, None


@contextmanager
def _store_location(kind: str, path: Path, server: str | None) -> Iterator[str]:
    if kind != "postgres":
        path.unlink(missing_ok=True)
        yield ":memory:" if kind == "memory" else str(path)
        return
    import psycopg
    from psycopg import sql

    assert server is not None
    database = f"tasks_bench_{uuid.uuid4().hex[:12]}"
    name = sql.Identifier(database)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        yield urlsplit(server)._replace(path=f"/{database}").geturl()
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def _store(kind: str, where: str) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(where)
    return store_from_url(where)


async def _event_delays(url: str, where: str, samples: int) -> list[float]:
    """Store ``samples`` tasks here, one at a time; time each until the server streams it."""
    store = store_from_url(where)
    await store.open()
    arrived: dict[str, asyncio.Future[float]] = {}

    async def read(lines: Any) -> None:
        async for line in lines:
            if line.startswith("data: "):
                record_id = json.loads(line.removeprefix("data: "))["id"]
                future = arrived.get(record_id)
                if future is not None and not future.done():
                    future.set_result(time.perf_counter())

    delays = []
    try:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=60.0)) as client,
            client.stream("GET", f"{url}/events") as response,
        ):
            reader = asyncio.get_running_loop().create_task(read(response.aiter_lines()))
            try:
                for _ in range(samples):
                    record = TaskRecord.new("noop", {})
                    arrived[record.id] = asyncio.get_running_loop().create_future()
                    started = time.perf_counter()
                    await store.create(record, owner=None, lease=30)
                    async with asyncio.timeout(10):
                        delays.append(await arrived[record.id] - started)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
    finally:
        await store.close()
    return delays
