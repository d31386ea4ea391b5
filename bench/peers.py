"""The peers part, run only when named (it needs Redis): ours against task queues users pick.

Every system POSTs a no-op task over HTTP with its own result tracking on (bench/systems.py):
Flask + RQ with 1 and 2 workers, Flask + Celery and Quart + taskiq on Redis; Quart + PgQueuer
(``pgq run`` worker) and Quart + DBOS Transact (a DBOS worker process dequeuing from a DBOS
queue) on PostgreSQL; and ours in one Hypercorn process and with ``-w 2`` on SQLite, and on
PostgreSQL in one process, with two brokerless workers and with two workers behind a Redis
broker. The PostgreSQL systems share one server (``TASKS_BENCH_POSTGRES_URL``, else
``TASKS_TEST_POSTGRES_URL``, else user postgres on 127.0.0.1:5432), each with a new database
per start. ``TASKS_BENCH_PEERS`` picks a subset (comma-separated keys, such as
``pgqueuer,dbos,taskiq``).
Each measure starts the system afresh; the measures run in
interleaved rounds, and the round with the median completed tasks/s is reported:

- **sustained**: ``wrk -t1 -c16`` for ``peers_seconds``. Accepted/s; how many of the accepted
  tasks had finished when the load ended; completed/s, the accepted tasks over the time until
  the last of them finished;
- **burst**: ``peers_burst`` POSTs as fast as 16 connections allow (bench/burst.py);
  end-to-end tasks/s, from the first submission to the last task finished.

Both wait for the tasks to finish for ``peers_drain_seconds`` at most after the load; what
is still unfinished then is counted, with how many of those the system still holds queued.
CPU per task: the web server's CPU time per accepted request plus the workers' per finished
task, each read from ``/proc`` for its process group with its reaped children (RQ's work
horses). The servers' CPU time per finished task (Redis from its ``INFO``, PostgreSQL from
its processes in ``/proc``) is reported beside it, and added to it in
``all_cpu_us_per_task``: the servers are the machine's, so run nothing else on them meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from . import burst, systems
from .settings import Settings
from .wrk import run_wrk

POLL = 0.1  # seconds between two counts of the finished tasks
SETTLE = 1.0  # seconds the count must stay still once every accepted task has finished
PACKAGES = (
    "rq", "celery", "kombu", "taskiq", "taskiq-redis", "redis", "pgqueuer", "asyncpg", "dbos",
    "gunicorn", "hypercorn",
)  # fmt: skip

Load = Callable[[], tuple[int, int]]  # runs the load; returns (accepted, not accepted)


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    problem = systems.redis_problem()
    if problem is not None:
        print(f"  skipped: {problem}", flush=True)
        return {"skipped": problem}
    measures = {"sustained": _sustained, "burst": _burst}
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = {
        system.key: {measure: [] for measure in measures} for system in systems.chosen()
    }
    try:
        for number in range(settings.wrk_rounds):
            for measure, observe in measures.items():
                for system in systems.chosen():
                    name = f"peers-{system.key}-{measure}-{number + 1}"
                    with systems.started(system, workdir, logs, name) as running:
                        row = observe(running, settings)
                    rounds[system.key][measure].append(row)
                    label = f"round {number + 1} {measure:9} {system.key:7}"
                    print(f"  {label} {_brief(row)}", flush=True)
    finally:
        for system in systems.chosen():
            systems.flush(system)  # leave nothing behind in the shared Redis
    return {
        "rounds": settings.wrk_rounds,
        "wrk": {"threads": 1, "connections": settings.wrk_connections},
        "seconds": settings.peers_seconds,
        "burst": settings.peers_burst,
        "drain_seconds": settings.peers_drain_seconds,
        "redis": {"url": systems.REDIS_URL, "version": systems.redis_version()},
        "versions": {name: _version(name) for name in PACKAGES},
        "rows": [_row(system, rounds[system.key]) for system in systems.chosen()],
    }


def _sustained(running: systems.Running, settings: Settings) -> dict[str, Any]:
    def load() -> tuple[int, int]:
        result = run_wrk(
            running.url, seconds=settings.peers_seconds, connections=settings.wrk_connections
        )
        accepted = result["requests"] - result["non_2xx"]
        return accepted, result["non_2xx"] + result["socket_errors"]

    return _observe(running, load, settings.peers_drain_seconds)


def _burst(running: systems.Running, settings: Settings) -> dict[str, Any]:
    def load() -> tuple[int, int]:
        result = burst.post_many(running.url, settings.peers_burst, settings.wrk_connections)
        return int(result["ok"]), int(result["refused"] + result["errors"])

    return _observe(running, load, settings.peers_drain_seconds)


def _observe(running: systems.Running, load: Load, drain: float) -> dict[str, Any]:
    """Run ``load``, then wait up to ``drain`` s for its tasks; what it cost, how fast."""
    base = running.finished()
    web_cpu, workers_cpu = running.cpu_seconds()
    servers_cpu = systems.servers_cpu()
    began = time.perf_counter()
    accepted, failed = load()
    loaded = time.perf_counter() - began
    during = running.finished() - base
    done, last = _drain(running, base, accepted, drain)
    web_now, workers_now = running.cpu_seconds()
    web_used, workers_used = web_now - web_cpu, workers_now - workers_cpu
    servers_used = systems.servers_cpu_used(servers_cpu, systems.servers_cpu())
    redis_used, postgres_used = servers_used["redis"], servers_used["postgres"]
    running.check_alive()
    complete = done >= accepted
    web_per_request = web_used / max(1, accepted) * 1e6
    workers_per_task = workers_used / max(1, done) * 1e6
    return {
        "accepted": accepted,
        "not_accepted": failed,
        "seconds": round(loaded, 2),
        "accepted_per_s": accepted / loaded,
        "finished_during_load": during,
        "finished_share": min(1.0, during / accepted) if accepted else 1.0,
        "finished": done,
        "unfinished": max(0, accepted - done),
        "still_queued": running.waiting() if not complete else 0,
        "complete": complete,
        "seconds_to_last": round(last - began, 2),
        "completed_per_s": min(done, accepted) / (last - began),
        "web_cpu_us_per_request": web_per_request,
        "workers_cpu_us_per_task": workers_per_task,
        "cpu_us_per_task": web_per_request + workers_per_task,
        "redis_cpu_us_per_task": redis_used / max(1, done) * 1e6,
        "postgres_cpu_us_per_task": postgres_used / max(1, done) * 1e6,
        "all_cpu_us_per_task": web_per_request
        + workers_per_task
        + (redis_used + postgres_used) / max(1, done) * 1e6,
    }


def _drain(running: systems.Running, base: int, expected: int, timeout: float) -> tuple[int, float]:
    """Count finished tasks until ``expected`` have finished or ``timeout`` s have passed;
    return the count and the moment (perf_counter) the last expected one was seen."""
    deadline = time.monotonic() + timeout
    done = running.finished() - base
    while done < expected and time.monotonic() < deadline:
        time.sleep(POLL)  # the count is another process's
        # Counting a Redis system's results scans its keys; its queue's length is one call.
        if running.waiting() == 0:
            done = running.finished() - base
    last = time.perf_counter()
    if done < expected:
        return running.finished() - base, last
    # Requests in flight when wrk stopped were accepted too: let their tasks be counted.
    still_since, settle_until = time.monotonic(), time.monotonic() + 5 * SETTLE
    while time.monotonic() - still_since < SETTLE and time.monotonic() < settle_until:
        time.sleep(SETTLE / 4)
        now = running.finished() - base
        if now != done:
            done, still_since = now, time.monotonic()
    return done, last


def _row(system: systems.System, rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    every = rounds["sustained"] + rounds["burst"]
    return {
        "key": system.key,
        "label": system.label,
        "kind": system.kind,
        "processes": system.processes,
        "sustained": _median(rounds["sustained"]),
        "burst": _median(rounds["burst"]),
        "accepted_all_rounds": sum(row["accepted"] for row in every),
        "unfinished_all_rounds": sum(row["unfinished"] for row in every),
        "still_queued_all_rounds": sum(row["still_queued"] for row in every),
    }


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median completed/s (its figures belong together), and every round."""
    ordered = sorted(results, key=lambda row: row["completed_per_s"])
    return {**ordered[len(ordered) // 2], "all_rounds": results}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _brief(row: dict[str, Any]) -> str:
    return (
        f"{row['accepted_per_s']:6.0f} accepted/s  during load {row['finished_during_load']}"
        f"/{row['accepted']}  completed/s {row['completed_per_s']:6.0f}"
        f"  CPU {row['cpu_us_per_task']:7.0f} us/task ({row['all_cpu_us_per_task']:7.0f} with"
        f" servers)  unfinished {row['unfinished']}"
    )
