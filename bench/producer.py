"""Part 14: what a submission from synchronous code costs, and what a task adds to the
caller's own transaction (PostgreSQL). No HTTP, no worker: only the submitting side.

Each row makes submissions one after another from each of 1, then 8 threads (as a WSGI
server's threads would), and times every call:

- ``producer``, on SQLite and PostgreSQL: ``Producer.submit`` (checked, stored, durable,
  returned).
- ``order only``, PostgreSQL: the application's own transaction without a task: one INSERT
  of an order row and the commit, on the thread's own connection.
- ``order + task``: the same transaction with ``producer.submit(..., connection=conn)`` in
  it, so that the difference from ``order only`` is what the task adds to it.

CPU is this process's (the producer's thread included; the database server's not), per
submission. The store's rows are counted afterwards: every committed task is there. Then
the rows the ``order + task`` calls left unnumbered (nothing here follows changes) are
numbered by ``quart_tasks_number_new()``, timed, and the check that every claim makes is
timed with nothing to number (server time, a loop of 2,000 calls).
PostgreSQL is found as part 6 finds it; without a server its rows are left out.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tasks import Producer, Registry

from . import stores
from .settings import Settings

registry = Registry()


@registry.task(name="noop")
def _noop(n: int) -> None:
    return None


THREADS = (1, 8)
_ORDERS = "CREATE TABLE IF NOT EXISTS bench_orders (thread integer, n integer)"


def _timed(threads: int, count: int, work: Callable[[int, list[float]], None]) -> dict[str, Any]:
    """Run ``work(thread, latencies)`` on ``threads`` threads at once; the row's figures."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    workers = [
        threading.Thread(target=work, args=(number, latencies[number])) for number in range(threads)
    ]
    start, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    every = sorted(latency for per_thread in latencies for latency in per_thread)
    assert len(every) == threads * count, "a thread stopped early"
    return {
        "threads": threads,
        "calls": len(every),
        "per_s": len(every) / elapsed,
        "p50_ms": statistics.median(every) * 1000,
        "p95_ms": every[int(len(every) * 0.95)] * 1000,
        "cpu_us": used / len(every) * 1e6,
    }


def _producer_row(where: str, threads: int, count: int) -> dict[str, Any]:
    with Producer(registry, database=where) as producer:
        producer.submit(_noop, n=-1)  # its loop started and the store opened

        def work(thread: int, latencies: list[float]) -> None:
            for n in range(count):
                began = time.perf_counter()
                producer.submit(_noop, n=n)
                latencies.append(time.perf_counter() - began)

        return _timed(threads, count, work)


def _transaction_row(where: str, threads: int, count: int, *, task: bool) -> dict[str, Any]:
    import psycopg

    with Producer(registry, database=where) as producer:
        producer.submit(_noop, n=-1)
        with psycopg.connect(where, autocommit=True) as conn:
            conn.execute(_ORDERS)

        def work(thread: int, latencies: list[float]) -> None:
            with psycopg.connect(where) as conn:
                for n in range(count):
                    began = time.perf_counter()
                    with conn.transaction():
                        conn.execute(
                            "INSERT INTO bench_orders (thread, n) VALUES (%s, %s)", (thread, n)
                        )
                        if task:
                            producer.submit(_noop, n=n, connection=conn)
                    latencies.append(time.perf_counter() - began)

        return _timed(threads, count, work)


def _numbering(where: str) -> dict[str, float]:
    """Time ``quart_tasks_number_new()`` on the rows the ``order + task`` rows left unnumbered
    (nobody here follows changes), then the check a claim makes when there are none."""
    import psycopg

    with psycopg.connect(where, autocommit=True) as conn:
        began = time.perf_counter()
        row = conn.execute("SELECT quart_tasks_number_new()").fetchone()
        numbering = time.perf_counter() - began
        checks = 2000
        began = time.perf_counter()
        conn.execute(
            f"DO $$ BEGIN FOR i IN 1..{checks} LOOP PERFORM quart_tasks_number_new(); "
            "END LOOP; END $$"
        )
        check = (time.perf_counter() - began) / checks
        total = conn.execute("SELECT count(*) FROM quart_tasks").fetchone()
    return {
        "numbered": float(row[0]) if row else 0.0,
        "numbering_ms": numbering * 1000,
        "rows": float(total[0]) if total else 0.0,
        "check_us": check * 1e6,
    }


def _stored(where: str) -> int:
    import psycopg

    with psycopg.connect(where) as conn:
        row = conn.execute("SELECT count(*) FROM quart_tasks").fetchone()
    return int(row[0]) if row else 0


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    server, unavailable = stores._postgres_server()
    count = max(20, settings.engine_tasks // 20)
    rows, numbering = [], []
    for threads in THREADS:
        per_thread = max(10, count // threads)
        with stores._store_location("sqlite", workdir / "producer.sqlite3", None) as where:
            rows.append({"store": "SQLite", "what": "producer"}
                        | _producer_row(where, threads, per_thread))  # fmt: skip
        if server is None:
            continue
        with stores._store_location("postgres", workdir / "unused", server) as where:
            rows.append({"store": "PostgreSQL", "what": "producer"}
                        | _producer_row(where, threads, per_thread))  # fmt: skip
            rows.append({"store": "PostgreSQL", "what": "order only"}
                        | _transaction_row(where, threads, per_thread, task=False))  # fmt: skip
            before = _stored(where)
            rows.append({"store": "PostgreSQL", "what": "order + task"}
                        | _transaction_row(where, threads, per_thread, task=True))  # fmt: skip
            added = _stored(where) - before
            assert added == threads * per_thread + 1, f"{added} tasks stored"
            numbering.append({"threads": threads} | _numbering(where))
    for row in rows:
        print(
            f"  {row['store']:10} {row['what']:12} {row['threads']} thread(s) "
            f"{row['per_s']:7.0f}/s p50 {row['p50_ms']:6.2f} ms p95 {row['p95_ms']:6.2f} ms "
            f"{row['cpu_us']:6.0f} us CPU",
            flush=True,
        )
    for done in numbering:
        print(
            f"  numbered {done['numbered']:.0f} of {done['rows']:.0f} rows in "
            f"{done['numbering_ms']:.1f} ms; the check with none: {done['check_us']:.1f} us",
            flush=True,
        )
    return {"rows": rows, "numbering": numbering, "postgres": unavailable or "measured"}
