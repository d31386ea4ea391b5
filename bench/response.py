"""Part 1: time to response vs task duration, and whether the worker stays busy meanwhile.

Every approach gets a fresh single-worker server per duration. Requests go one at a time;
then one more is sent with a probe (``GET /healthz``) ``probe_after`` seconds behind it: the
probe's own wait says how long the worker stayed busy with the first request's work.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import servers
from .client import Timing, probed_request, timed_request
from .settings import Settings
from .stats import summarize


@dataclass(frozen=True)
class Approach:
    key: str
    label: str
    family: str  # "ours", "quart" or "flask": which server serves it
    path: str
    #: the response itself waits for the work, so each request takes the task's duration
    waits: bool


APPROACHES = (
    Approach("quart_tasks", "quart-tasks POST /tasks/sleep", "ours", "/tasks/sleep", False),
    Approach("quart_background", "Quart add_background_task", "quart", "/sleep", False),
    Approach("flask_after_request", "Flask after_request", "flask", "/after-request", True),
    Approach(
        "flask_after_this_request", "Flask after_this_request", "flask", "/after-this-request", True
    ),
    Approach("flask_teardown_request", "Flask teardown_request", "flask", "/teardown", True),
    Approach("flask_streaming", "Flask streaming response", "flask", "/stream", True),
    Approach("flask_thread", "Flask threading.Thread", "flask", "/thread", False),
)


def run(settings: Settings, workdir: Path, logs: Path) -> dict[str, Any]:
    rows = []
    for approach in APPROACHES:
        if approach.waits:
            for duration in settings.flask_durations:
                name = f"response-{approach.key}-{duration:g}s"
                with servers.serving(_server(approach, workdir / name), logs, name) as server:
                    timings = [
                        _timed(server.port, approach, duration)
                        for _ in range(settings.slow_samples)
                    ]
                    probe = _probe(server.port, approach, duration, settings)
                rows.append(_row(approach, duration, timings, probe, settings))
                print(f"  {approach.label:32} {duration:>5g} s  {_brief(rows[-1])}", flush=True)
        else:
            rows += _interleaved(approach, settings, workdir, logs)
    return {"rows": rows, "checks": _checks(rows)}


def _interleaved(
    approach: Approach, settings: Settings, workdir: Path, logs: Path
) -> list[dict[str, Any]]:
    """One server per duration, all up at once; requests go to them in turn.

    Each duration then sees the same moments of the shared machine, so that the p99 of
    one duration can be compared with another's.
    """
    durations = settings.flask_durations if approach.family == "flask" else settings.durations
    with ExitStack() as stack:
        started = {}
        for duration in durations:
            name = f"response-{approach.key}-{duration:g}s"
            spec = _server(approach, workdir / f"{name}.sqlite3")
            started[duration] = stack.enter_context(servers.serving(spec, logs, name))
        timings: dict[float, list[Timing]] = {duration: [] for duration in durations}
        for _ in range(settings.fast_samples):
            for duration, server in started.items():
                timings[duration].append(_timed(server.port, approach, duration))
        probes = {
            duration: _probe(server.port, approach, duration, settings)
            for duration, server in started.items()
        }
    rows = [
        _row(approach, duration, timings[duration], probes[duration], settings)
        for duration in durations
    ]
    for row in rows:
        print(f"  {approach.label:32} {row['duration_s']:>5g} s  {_brief(row)}", flush=True)
    return rows


def _server(approach: Approach, database: Path) -> servers.ServerSpec:
    if approach.family == "ours":
        return servers.product("uvloop", database)
    if approach.family == "quart":
        return servers.quart_raw("uvloop")
    return servers.flask("sync")


def _timed(port: int, approach: Approach, duration: float) -> Timing:
    return timed_request(port, "POST", approach.path, {"seconds": duration})


def _probe(port: int, approach: Approach, duration: float, settings: Settings) -> Timing:
    _, probe = probed_request(
        port,
        "POST",
        approach.path,
        {"seconds": duration},
        probe_after=settings.probe_after,
        probe_path="/healthz",
    )
    return probe


def _row(
    approach: Approach,
    duration: float,
    timings: list[Timing],
    probe: Timing,
    settings: Settings,
) -> dict[str, Any]:
    return {
        "approach": approach.key,
        "label": approach.label,
        "duration_s": duration,
        "headers": summarize([timing.headers for timing in timings]),
        "body": summarize([timing.body for timing in timings]),
        "non_2xx": sum(1 for timing in timings if not 200 <= timing.status < 300),
        "probe_wait_ms": probe.body * 1000,
        # The probe starts probe_after s into the work; "busy" = it waited for most of the rest.
        "worker_busy": probe.body >= 0.5 * (duration - settings.probe_after),
    }


def _brief(row: dict[str, Any]) -> str:
    return (
        f"headers p50 {row['headers']['p50_ms']:8.1f} ms  body p50 {row['body']['p50_ms']:8.1f} ms"
        f"  p99 {row['body']['p99_ms']:8.1f} ms  probe {row['probe_wait_ms']:8.1f} ms"
        f"  busy={'yes' if row['worker_busy'] else 'no'}"
    )


def _checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The known result, checked on this run's numbers (recorded, never asserted)."""

    def of(key: str) -> list[dict[str, Any]]:
        return [row for row in rows if row["approach"] == key]

    checks = []
    for key in ("flask_after_request", "flask_after_this_request", "flask_teardown_request"):
        checks.append(
            {
                "claim": f"{key}: the response waits for the whole work",
                "holds": all(
                    row["body"]["p50_ms"] >= 900 * row["duration_s"] and row["worker_busy"]
                    for row in of(key)
                ),
            }
        )
    checks.append(
        {
            "claim": "flask_streaming: headers at once, body and worker held for the work",
            "holds": all(
                row["headers"]["p50_ms"] < 500 * row["duration_s"]
                and row["body"]["p50_ms"] >= 900 * row["duration_s"]
                and row["worker_busy"]
                for row in of("flask_streaming")
            ),
        }
    )
    for key in ("quart_tasks", "quart_background", "flask_thread"):
        checks.append(
            {
                "claim": f"{key}: the response does not wait and the worker stays free",
                "holds": all(
                    row["body"]["p50_ms"] < 500 * row["duration_s"] and not row["worker_busy"]
                    for row in of(key)
                ),
            }
        )
    return checks


def p99_ratio(result: dict[str, Any]) -> tuple[float, float, float, float]:
    """Our p99 time to full response for the longest task, the shortest, and their durations."""
    ours = sorted(
        (row for row in result["rows"] if row["approach"] == "quart_tasks"),
        key=lambda row: row["duration_s"],
    )
    short, long = ours[0], ours[-1]
    return long["body"]["p99_ms"], short["body"]["p99_ms"], long["duration_s"], short["duration_s"]
