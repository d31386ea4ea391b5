"""The targets, each judged on ratios measured within one run."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import engine, response, scheduling
from .stats import ratio


def _target(
    name: str, measured: str, value: float, limit: float, *, at_most: bool
) -> dict[str, Any]:
    met = (value <= limit) if at_most else (value >= limit)
    return {
        "target": name,
        "measured": measured,
        "value": value,
        "limit": limit,
        "comparison": "<=" if at_most else ">=",
        "met": bool(met) and not math.isnan(value),
    }


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    parts = results["parts"]
    if "scheduling" in parts:
        found += _scheduling(parts["scheduling"])
    if "response" in parts:
        long_p99, short_p99, long_s, short_s = response.p99_ratio(parts["response"])
        found.append(
            _target(
                f"response p99, {long_s:g} s task <= 1.1 x {short_s:g} s task",
                f"{long_p99:.1f} ms / {short_p99:.1f} ms",
                ratio(long_p99, short_p99),
                1.1,
                at_most=True,
            )
        )
    if "engine" in parts:
        found += _engine(parts["engine"])
    if "loop" in parts:
        for row in parts["loop"]["rows"]:
            lag, floor = row["loaded"]["lag"]["p99_ms"], row["idle"]["lag"]["p99_ms"]
            found.append(
                _target(
                    f"loop lag p99 under load <= 5 ms ({row['worker_class']})",
                    f"{lag:.2f} ms (idle server meanwhile: {floor:.2f} ms)",
                    lag,
                    5.0,
                    at_most=True,
                )
            )
    if "memory" in parts:
        row = next(row for row in parts["memory"]["rows"] if row["store"] == "sqlite")
        kib = row["bytes_per_task"] / 1024
        found.append(
            _target(
                "RSS per waiting task <= 3 KiB (SQLite store)",
                f"{kib:.2f} KiB with {row['waiting']} waiting",
                kib,
                3.0,
                at_most=True,
            )
        )
    if "pace" in parts:
        found += _pace(parts["pace"])
    if "peers" in parts and "skipped" not in parts["peers"]:
        found += _peers(parts["peers"])
    if parts.get("workers", {}).get("rows"):
        workers = parts["workers"]
        one, two = workers["rows"][1], workers["rows"][2]
        found.append(
            _target(
                "two worker processes >= 1.8 x the tasks/s of one (sleep-bound tasks)",
                f"{two['tasks_per_s']:.1f} / {one['tasks_per_s']:.1f} tasks/s",
                workers["two_over_one"],
                1.8,
                at_most=False,
            )
        )
        if "two_over_one_brokerless" in workers:
            one, two = workers["rows"][3], workers["rows"][4]
            found.append(
                _target(
                    "two brokerless workers >= 1.8 x the tasks/s of one (sleep-bound tasks)",
                    f"{two['tasks_per_s']:.1f} / {one['tasks_per_s']:.1f} tasks/s",
                    workers["two_over_one_brokerless"],
                    1.8,
                    at_most=False,
                )
            )
    return found


def _peers(part: dict[str, Any]) -> list[dict[str, Any]]:
    """Ours ahead of every tracked peer: our better configuration against their best (none
    when ``TASKS_BENCH_PEERS`` left out either side)."""
    ours = [row for row in part["rows"] if row["kind"] == "ours"]
    theirs = [row for row in part["rows"] if row["kind"] != "ours"]
    if not ours or not theirs:
        return []

    def rate(row: dict[str, Any]) -> float:
        return float(row["sustained"]["completed_per_s"])

    def cpu(row: dict[str, Any]) -> float:
        return float(row["sustained"]["cpu_us_per_task"])

    found = _scale_out(part, rate)
    if not ours or not theirs:
        return found
    fastest, fastest_peer = max(ours, key=rate), max(theirs, key=rate)
    cheapest, cheapest_peer = min(ours, key=cpu), min(theirs, key=cpu)
    return [
        *found,
        _target(
            "completed tasks/s, sustained load: ours >= the fastest peer",
            f"{fastest['label']} {rate(fastest):.0f} / {fastest_peer['label']} "
            f"{rate(fastest_peer):.0f}",
            ratio(rate(fastest), rate(fastest_peer)),
            1.0,
            at_most=False,
        ),
        _target(
            "CPU per task, all processes: ours <= the cheapest peer",
            f"{cheapest['label']} {cpu(cheapest):.0f} us / {cheapest_peer['label']} "
            f"{cpu(cheapest_peer):.0f} us",
            ratio(cpu(cheapest), cpu(cheapest_peer)),
            1.0,
            at_most=True,
        ),
    ]


def _scale_out(
    part: dict[str, Any], rate: Callable[[dict[str, Any]], float]
) -> list[dict[str, Any]]:
    """The targets of the PostgreSQL deployments, for the rows this run has."""
    rows = {row["key"]: row for row in part["rows"]}
    found = []

    def all_cpu(row: dict[str, Any]) -> float:
        load = row["sustained"]
        return float(load.get("all_cpu_us_per_task", load["cpu_us_per_task"]))

    def at_least(key: str, other: str, factor: float, what: str) -> None:
        if key in rows and other in rows:
            mine, theirs = rows[key], rows[other]
            found.append(
                _target(
                    what,
                    f"{rate(mine):.0f} / {rate(theirs):.0f} completed/s",
                    ratio(rate(mine), rate(theirs)),
                    factor,
                    at_most=False,
                )
            )

    workers = "web + 2 brokerless workers on PostgreSQL"
    at_least("ours-pg-workers", "taskiq", 1.0, f"{workers}: completed/s >= Quart + taskiq's")
    at_least("ours-pg-workers", "pgqueuer", 1.0, f"{workers}: completed/s >= PgQueuer's")
    at_least("ours-pg-redis", "ours-pg-workers", 0.8, "through Redis: >= 0.8 x brokerless")
    at_least("ours-pg", "ours-1", 0.8, "PostgreSQL in-process: >= 0.8 x SQLite's completed/s")
    if "ours-pg-workers" in rows and "taskiq" in rows:
        mine, theirs = all_cpu(rows["ours-pg-workers"]), all_cpu(rows["taskiq"])
        found.append(
            _target(
                f"{workers}: CPU per task, servers included, <= taskiq's",
                f"{mine:.0f} us / {theirs:.0f} us",
                ratio(mine, theirs),
                1.0,
                at_most=True,
            )
        )
    for key in ("ours-pg", "ours-pg-workers", "ours-pg-redis"):
        if key in rows:
            load = rows[key]["sustained"]
            found.append(
                _target(
                    f"{rows[key]['label']}: accepted tasks finished when the load ends >= 90 %",
                    f"{load['finished_during_load']} of {load['accepted']}",
                    load["finished_share"],
                    0.9,
                    at_most=False,
                )
            )
    return found


def _pace(part: dict[str, Any]) -> list[dict[str, Any]]:
    sustained = part["rows"]["sustained"]
    return [
        _target(
            "accepted tasks finished when a sustained load ends >= 90 %",
            f"{sustained['finished_during_load']} of {sustained['accepted']}",
            sustained["finished_share"],
            0.9,
            at_most=False,
        ),
        _target(
            "completed/s under 4x overload >= 0.8 x sustained accepted/s (default queue)",
            "median of rounds: " + ", ".join(f"{value:.2f}" for value in part["overload_ratios"]),
            part["overload_ratio"],
            0.8,
            at_most=False,
        ),
        _target(
            "server CPU of a 503 <= 0.5 x an accepted request's",
            "median of rounds: "
            + ", ".join(f"{value:.2f}" for value in part["refusal_cost_ratios"]),
            part["refusal_cost_ratio"],
            0.5,
            at_most=True,
        ),
    ]


def _scheduling(part: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    flask = scheduling.find(part, "d_sync")
    for row in part["rows"]:
        if row["case"] != "c" or row["variant"]:
            continue
        worker_class = row["worker_class"]
        raw = scheduling.find(part, f"b_{worker_class}")
        ours = row["ok_per_s"]
        if raw is not None:
            found.append(
                _target(
                    f"(c) >= 0.8 x (b), Hypercorn {worker_class}",
                    f"{ours:.0f} / {raw['ok_per_s']:.0f} req/s",
                    ratio(ours, raw["ok_per_s"]),
                    0.8,
                    at_most=False,
                )
            )
        health = scheduling.find(part, f"h_{worker_class}")
        if health is not None:
            found.append(
                _target(
                    f"(c) >= 0.7 x GET /healthz of the same server, Hypercorn {worker_class}",
                    f"{ours:.0f} / {health['ok_per_s']:.0f} req/s",
                    ratio(ours, health["ok_per_s"]),
                    0.7,
                    at_most=False,
                )
            )
        if flask is not None:
            found.append(
                _target(
                    f"(c) >= 1.3 x (d), Hypercorn {worker_class} vs gunicorn sync",
                    f"{ours:.0f} / {flask['ok_per_s']:.0f} req/s",
                    ratio(ours, flask["ok_per_s"]),
                    1.3,
                    at_most=False,
                )
            )
    return found


def _engine(part: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for loop in dict.fromkeys(row["loop"] for row in part["rows"]):
        tracked = engine.find(part, "sqlite_coroutine", loop)
        raw = engine.find(part, "raw_create_task", loop)
        if tracked is None or raw is None:
            continue
        rate = tracked["tasks_per_s"]
        found.append(
            _target(
                f"tracked tasks/s >= 20 000 (SQLite, coroutine, {loop})",
                f"{rate:.0f} tasks/s",
                rate,
                20_000,
                at_most=False,
            )
        )
        found.append(
            _target(
                f"tracked >= 25 % of raw asyncio.create_task ({loop})",
                f"{rate:.0f} / {raw['tasks_per_s']:.0f} tasks/s",
                ratio(rate, raw["tasks_per_s"]),
                0.25,
                at_most=False,
            )
        )
    return found
