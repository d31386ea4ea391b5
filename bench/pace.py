"""Part 6: do tasks keep pace with accepted requests, and how does overload behave?

Three servers of our app (uvloop), each loaded with ``POST /tasks/noop`` in interleaved
rounds (the round with the median accepted/s of each is reported):

- **sustained**: wrk ``-c16`` with the waiting queue raised, so nothing is refused. When the
  load ends, the store is read at once: how many of the accepted tasks had finished. Then the
  server is left to finish the rest; completed/s is accepted tasks over the time until then.
- **overload**: wrk with 4 times the connections and the default queue limit. Completed/s is the
  tasks finished during the load over its length, compared with the sustained accept rate
  of the same round.
- **refusals**: ``TASKS_MAX_QUEUED=0``, so every request is a ``503``; its server CPU per
  request, against an accepted request's in the sustained case.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from . import servers
from .scheduling import wait_idle
from .settings import Settings
from .wrk import run_wrk

RAISED_QUEUE = 10_000_000
OVERLOAD = 4


def finished(database: Path) -> int:
    """Tasks in a terminal state, read straight from the SQLite file."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        row = connection.execute(
            "SELECT count(*) FROM tasks WHERE state IN ('succeeded', 'failed', 'cancelled')"
        ).fetchone()
        return int(row[0])
    finally:
        connection.close()


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    seconds = settings.pace_seconds
    connections = settings.wrk_connections
    cases = {
        "sustained": (connections, {"QUART_TASKS_MAX_QUEUED": str(RAISED_QUEUE)}),
        "overload": (OVERLOAD * connections, {}),
        "refusals": (connections, {"QUART_TASKS_MAX_QUEUED": "0"}),
    }
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    with ExitStack() as stack:
        started = {}
        for name, (_, env) in cases.items():
            database = workdir / f"pace-{name}.sqlite3"
            spec = servers.product("uvloop", database, **env)
            started[name] = (
                stack.enter_context(servers.serving(spec, logs, f"pace-{name}")),
                database,
            )
        for number in range(settings.wrk_rounds):
            for name, (clients, _) in cases.items():
                server, database = started[name]
                row = _measure(server, database, seconds, clients)
                rounds[name].append(row)
                print(f"  round {number + 1} {name:10} {_brief(row)}", flush=True)
    rows = {name: _median(results) for name, results in rounds.items()}
    # Ratios within each round (its cases ran one after the other), then their median.
    pairs = list(zip(rounds["sustained"], rounds["overload"], rounds["refusals"], strict=True))
    overload = [
        o["completed_per_s_during_load"] / max(1e-9, s["accepted_per_s"]) for s, o, _ in pairs
    ]
    refusal = [r["cpu_us_per_request"] / max(1e-9, s["cpu_us_per_request"]) for s, _, r in pairs]
    return {
        "rounds": settings.wrk_rounds,
        "rows": rows,
        "overload_ratios": overload,
        "overload_ratio": statistics.median(overload),
        "refusal_cost_ratios": refusal,
        "refusal_cost_ratio": statistics.median(refusal),
    }


def _measure(server: servers.Server, database: Path, seconds: int, clients: int) -> dict[str, Any]:
    before = finished(database)
    cpu = server.cpu_seconds()
    began = time.perf_counter()
    result = run_wrk(server.url + "/tasks/noop", seconds=seconds, connections=clients)
    loaded = time.perf_counter() - began
    done_at_end = finished(database) - before
    load_cpu = server.cpu_seconds() - cpu
    wait_idle(server)
    total = time.perf_counter() - began
    accepted = result["requests"] - result["non_2xx"]
    return {
        "connections": clients,
        "seconds": round(loaded, 2),
        "requests": result["requests"],
        "accepted": accepted,
        "refused": result["non_2xx"],
        "accepted_per_s": accepted / loaded,
        "finished_during_load": done_at_end,
        "finished_share": min(1.0, done_at_end / accepted) if accepted else 1.0,
        "completed_per_s_during_load": done_at_end / loaded,
        "completed_per_s_overall": accepted / total,
        "cpu_us_per_request": load_cpu / max(1, result["requests"]) * 1e6,
        "p99_ms": result["p99_ms"],
    }


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median accepted/s (its figures belong together), and every round."""
    ordered = sorted(results, key=lambda row: row["accepted_per_s"])
    return {**ordered[len(ordered) // 2], "all_rounds": results}


def _brief(row: dict[str, Any]) -> str:
    return (
        f"{row['accepted_per_s']:7.0f} accepted/s  {row['refused']:6d} refused  "
        f"finished during load {row['finished_during_load']}/{row['accepted']} "
        f"({row['finished_share']:.0%})  completed/s {row['completed_per_s_during_load']:.0f}"
        f"  CPU {row['cpu_us_per_request']:.0f} us/req"
    )
