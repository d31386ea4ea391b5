"""Part 2: the cost of scheduling work from a request, under wrk load.

(a) a plain Quart JSON endpoint, (b) Quart's raw ``add_background_task`` of a no-op,
(c) our ``POST /tasks/noop`` with its durable SQLite record, (d) Flask starting a
``threading.Thread`` under gunicorn. One worker process each, the same wrk settings; the
cases are measured in interleaved rounds so that noise from the shared machine falls on
all of them alike, and the median round of each is reported.

(c) runs three times: with the waiting queue raised so that a round never fills it (the cost
of scheduling, judged by the targets); the same with ``TASKS_METRICS`` off, for the cost of
the metrics; and with the default limit of 1000, where a sustained overload is answered with
503 once the queue is full (what a deployment sees). After each
round of (c) the server is left to run its accepted tasks before its CPU time is read.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import servers
from .settings import Settings
from .wrk import run_wrk

LABELS = {
    "a": "plain Quart JSON",
    "b": "Quart add_background_task no-op",
    "c": "quart-tasks POST /tasks/noop (SQLite)",
    "d": "Flask + threading.Thread",
    "h": "quart-tasks GET /healthz (the server of (c))",
}


RAISED_QUEUE = 10_000_000


@dataclass(frozen=True)
class Case:
    letter: str
    worker_class: str
    spec: servers.ServerSpec
    path: str
    #: "" for the case the targets judge; otherwise what differs (a suffix of key and label)
    variant: str = ""
    method: str = "POST"

    @property
    def key(self) -> str:
        suffix = f"_{self.variant.split()[0]}" if self.variant else ""
        return f"{self.letter}{suffix}_{self.worker_class}"

    @property
    def label(self) -> str:
        server = "gunicorn" if self.spec.server == "gunicorn" else "Hypercorn"
        extra = f", {self.variant}" if self.variant else ""
        return f"({self.letter}) {LABELS[self.letter]}{extra}, {server} {self.worker_class}"


def cases(settings: Settings, workdir: Path) -> list[Case]:
    found = []
    for worker_class in settings.worker_classes:
        raw = servers.quart_raw(worker_class)
        database = workdir / f"scheduling-{worker_class}.sqlite3"
        raised = servers.product(worker_class, database, QUART_TASKS_MAX_QUEUED=str(RAISED_QUEUE))
        unmetered = servers.product(
            worker_class,
            database.with_suffix(".no-metrics.sqlite3"),
            QUART_TASKS_MAX_QUEUED=str(RAISED_QUEUE),
            QUART_TASKS_METRICS="false",
        )
        default = servers.product(worker_class, database.with_suffix(".default.sqlite3"))
        found += [
            Case("a", worker_class, raw, "/plain"),
            Case("b", worker_class, raw, "/background"),
            Case("c", worker_class, raised, "/tasks/noop"),
            Case("h", worker_class, raised, "/healthz", method="GET"),
            Case("c", worker_class, unmetered, "/tasks/noop", "metrics off"),
            Case("c", worker_class, default, "/tasks/noop", "default queue limit"),
        ]
    found.append(Case("d", "sync", servers.flask("sync"), "/thread-noop"))
    return found


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    chosen = cases(settings, workdir)
    rounds: dict[str, list[dict[str, Any]]] = {case.key: [] for case in chosen}
    with ExitStack() as stack:
        started = {}
        for spec in dict.fromkeys(case.spec for case in chosen):
            started[spec] = stack.enter_context(
                servers.serving(spec, logs, f"scheduling-{spec.label}")
            )
        connections = settings.wrk_connections
        if settings.wrk_warmup_seconds:
            for case in chosen:
                url = started[case.spec].url + case.path
                run_wrk(
                    url,
                    seconds=settings.wrk_warmup_seconds,
                    connections=connections,
                    method=case.method,
                )
        for number in range(settings.wrk_rounds):
            for case in chosen:
                server = started[case.spec]
                cpu = server.cpu_seconds()
                result = run_wrk(
                    server.url + case.path,
                    seconds=settings.wrk_seconds,
                    connections=connections,
                    method=case.method,
                )
                ok = result["requests"] - result["non_2xx"]
                if case.letter == "c":
                    wait_idle(server)  # the accepted tasks run after their responses
                used = server.cpu_seconds() - cpu
                # Server CPU per request (for (c) until its tasks have run): far less disturbed
                # by a busy machine than req/s.
                result["cpu_us_per_request"] = used / max(1, result["requests"]) * 1e6
                result["cpu_us_per_2xx"] = used / max(1, ok) * 1e6
                rounds[case.key].append(result)
                print(f"  round {number + 1} {case.label:58} {_brief(result)}", flush=True)
    rows = [_row(case, rounds[case.key]) for case in chosen]
    return {
        "wrk": {
            "threads": 1,
            "connections": settings.wrk_connections,
            "seconds": settings.wrk_seconds,
            "rounds": settings.wrk_rounds,
            "warmup_seconds": settings.wrk_warmup_seconds,
        },
        "rows": rows,
    }


def _row(case: Case, results: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return float(statistics.median(result[key] for result in results))

    return {
        "key": case.key,
        "case": case.letter,
        "variant": case.variant,
        "worker_class": case.worker_class,
        "label": case.label,
        "requests_per_s": median("requests_per_s"),
        "ok_per_s": median("ok_per_s"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "cpu_us_per_request": median("cpu_us_per_request"),
        "non_2xx": sum(result["non_2xx"] for result in results),
        "socket_errors": sum(result["socket_errors"] for result in results),
        "rounds": results,
    }


def wait_idle(server: servers.Server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = json.loads(timed_json(server.port, "/healthz"))
        if health["running"] == 0 and health["waiting"] == 0:
            return
        time.sleep(0.05)  # polling another process
    raise TimeoutError(f"{server.spec.label} still had tasks after {timeout} s")


def timed_json(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        return connection.getresponse().read()
    finally:
        connection.close()


def _brief(result: dict[str, Any]) -> str:
    return (
        f"{result['requests_per_s']:8.0f} req/s  p50 {result['p50_ms']:6.1f} ms"
        f"  p99 {result['p99_ms']:6.1f} ms  CPU {result['cpu_us_per_request']:5.0f} us/req"
        f"  non-2xx {result['non_2xx']}"
    )


def find(result: dict[str, Any], key: str) -> dict[str, Any] | None:
    return next((row for row in result["rows"] if row["key"] == key), None)
