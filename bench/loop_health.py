"""Part 4: event-loop health while blocking thread tasks run and coroutine tasks wait.

Two servers (the product app plus a lag probe, ``bench.apps.lag``) run side by side: one
idle, the other while ``loop_threads`` ``sleep`` tasks block pool threads (the example task,
napping 0.1 s at a time and reporting progress) and ``loop_coroutines`` ``count`` tasks await
a long ``asyncio.sleep``. Over the same seconds, each probe records how late its loop wakes
it, and a client reads one record (``GET /tasks/<id>``, a store round trip) from each server
in turn every ``loop_http_interval`` s. Measuring both at once puts the shared machine's
noise on both alike; the idle server shows that noise floor.
"""

from __future__ import annotations

import http.client
import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from . import servers
from .client import timed_request
from .settings import Settings
from .stats import summarize

PHASES = ("idle", "loaded")


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    rows = []
    load = settings.loop_threads + settings.loop_coroutines
    limits = {
        "QUART_TASKS_MAX_RUNNING": str(load + 8),
        "QUART_TASKS_MAX_QUEUED": str(load + 8),
        "QUART_TASKS_THREADS": str(settings.loop_threads + 4),
    }
    for worker_class in settings.worker_classes:
        with ExitStack() as stack:
            started = {}
            for phase in PHASES:
                name = f"loop-{worker_class}-{phase}"
                database = workdir / f"{name}.sqlite3"
                spec = servers.product(worker_class, database, lag_probe=True, **limits)
                started[phase] = stack.enter_context(servers.serving(spec, logs, name))
            _start_load(started["loaded"].port, settings)
            measured = _measure(started, settings)
            still = _json(started["loaded"].port, "GET", "/healthz")["running"]
        rows.append({"worker_class": worker_class, **measured, "still_running": still})
        for phase in PHASES:
            print(f"  {worker_class:8} {phase:6} {_brief(measured[phase])}", flush=True)
    return {
        "threads": settings.loop_threads,
        "coroutines": settings.loop_coroutines,
        "seconds": settings.loop_seconds,
        "http_interval_s": settings.loop_http_interval,
        "rows": rows,
    }


def _start_load(port: int, settings: Settings) -> None:
    """Submit the tasks and wait until every one of them is running."""
    hold = settings.loop_seconds * 3 + 30  # long enough to outlast the measurement
    for _ in range(settings.loop_threads):
        _json(port, "POST", "/tasks/sleep", {"seconds": hold})
    for _ in range(settings.loop_coroutines):
        _json(port, "POST", "/tasks/count", {"n": 1, "interval": hold})
    expected = settings.loop_threads + settings.loop_coroutines
    deadline = time.monotonic() + 30
    while _json(port, "GET", "/healthz")["running"] < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {expected} tasks did not all start within 30 s")
        time.sleep(0.05)  # polling another process


def _measure(started: dict[str, servers.Server], settings: Settings) -> dict[str, Any]:
    """Probe both servers over the same seconds: the machine's noise falls on both alike."""
    paths = {}
    for phase, server in started.items():
        paths[phase] = "/tasks/" + _json(server.port, "POST", "/tasks/noop", {})["id"]
        _json(server.port, "POST", "/bench/lag/reset", {})
    latencies: dict[str, list[float]] = {phase: [] for phase in started}
    end = time.monotonic() + settings.loop_seconds
    while time.monotonic() < end:
        for phase, server in started.items():
            latencies[phase].append(timed_request(server.port, "GET", paths[phase]).body)
        time.sleep(settings.loop_http_interval)
    return {
        phase: {"lag": _json(server.port, "GET", "/bench/lag"), "http": summarize(latencies[phase])}
        for phase, server in started.items()
    }


def _json(port: int, method: str, path: str, body: Any = None) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload)
        response = connection.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data!r}")
        return json.loads(data)
    finally:
        connection.close()


def _brief(phase: dict[str, Any]) -> str:
    lag, http = phase["lag"], phase["http"]
    return (
        f"loop lag p50 {lag['p50_ms']:6.2f} ms p99 {lag['p99_ms']:6.2f} ms max {lag['max_ms']:7.2f}"
        f"  |  HTTP p50 {http['p50_ms']:6.2f} ms p99 {http['p99_ms']:6.2f} ms"
    )
