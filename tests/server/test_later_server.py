"""Later, periodic and once on real Hypercorn processes, as a user would run them.

A delayed task across a restart; a two-second periodic task on ``-w 2`` (one record per tick,
never two), across a restart too; twenty concurrent POSTs with one Idempotency-Key.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import loopback
from tests.readme_examples import write_periodic_app
from tests.servers import Server, running_server

pytestmark = [pytest.mark.server, pytest.mark.timeout(180)]

FAST_UPKEEP = {"QUART_TASKS_POLL_INTERVAL": "0.2"}
PERIOD = timedelta(seconds=2)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def wait_for(read: Callable[[], Any], done: Callable[[Any], bool], *, timeout: float = 60) -> Any:
    """Poll another process until ``done``; such a process offers nothing to wait on."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout} s; last seen: {value!r}")
        time.sleep(0.1)


def record(server: Server, task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = loopback.get(f"{server.url}/tasks/{task_id}", timeout=10).json()
    return found


def test_a_delayed_task_reads_scheduled_and_runs_after_a_restart(
    tmp_path: Path, database_url: str
) -> None:
    env = {"QUART_TASKS_DATABASE": database_url, **FAST_UPKEEP}
    with running_server(tmp_path, env) as server:
        response = loopback.post(f"{server.url}/tasks/noop?delay=2", timeout=10)
        assert response.status_code == 202, response.text
        created = response.json()
        assert created["state"] == "scheduled"
        assert record(server, created["id"])["state"] == "scheduled"
        server.signal(signal.SIGTERM)
        assert server.wait(60) == 0
    with running_server(tmp_path, env) as server:
        final = wait_for(lambda: record(server, created["id"]), lambda r: r["state"] == "succeeded")
    assert moment(final["started_at"]) - moment(final["created_at"]) >= timedelta(seconds=2)
    assert final["run_at"] == created["run_at"]


def heartbeats(server: Server) -> list[dict[str, Any]]:
    response = loopback.get(
        f"{server.url}/tasks", params={"name": "heartbeat", "limit": 1000}, timeout=10
    )
    found: list[dict[str, Any]] = response.json()["tasks"]
    return found


def assert_one_record_per_tick(records: list[dict[str, Any]]) -> list[datetime]:
    ticks = [moment(r["tick"]) for r in records]
    twice = [tick for tick, count in Counter(ticks).items() if count > 1]
    assert twice == [], f"ticks with more than one record: {twice}"
    assert all(r["schedule"] == "heartbeat" for r in records)
    assert all(tick.timestamp() % 2 == 0 for tick in ticks)
    return sorted(ticks)


def serve_clock(tmp_path: Path) -> Any:
    """The docs' clock.py on two workers; as written there, it keeps its store in its
    instance folder and reads no settings from the environment."""
    folder = write_periodic_app(tmp_path / "clock")
    return running_server(tmp_path, workers=2, app="clock:create_app()", cwd=folder)


def test_a_periodic_task_on_two_workers_makes_one_record_per_tick(tmp_path: Path) -> None:
    with serve_clock(tmp_path) as server:
        runs = wait_for(lambda: heartbeats(server), lambda found: len(found) >= 4, timeout=30)
        ticks = assert_one_record_per_tick(runs)
        # consecutive: no tick left out while the server ran
        assert [b - a for a, b in itertools.pairwise(ticks)] == [PERIOD] * (len(ticks) - 1)
        schedules = loopback.get(f"{server.url}/schedules", timeout=10).json()["schedules"]
        beat = next(item for item in schedules if item["name"] == "heartbeat")
        assert beat["every"] == 2.0
        assert moment(beat["last_run"]["tick"]) >= ticks[-1]
        stopped_at = datetime.now(UTC)
    # three ticks pass while nothing runs; the restart runs the latest of them once
    resume = stopped_at + 3 * PERIOD
    while datetime.now(UTC) < resume:  # waiting for the clock itself: it has no event
        time.sleep(0.1)
    with serve_clock(tmp_path) as server:
        after = wait_for(
            lambda: heartbeats(server), lambda found: len(found) >= len(runs) + 2, timeout=30
        )
    ticks_after = assert_one_record_per_tick(after)
    new = [tick for tick in ticks_after if tick > ticks[-1]]
    assert new[0] - ticks[-1] >= 2 * PERIOD  # missed ticks were not run as a backlog
    assert [b - a for a, b in itertools.pairwise(new)] == [PERIOD] * (len(new) - 1)
    assert {r["state"] for r in after if moment(r["tick"]) < new[-1]} == {"succeeded"}


def test_twenty_concurrent_posts_with_one_key_on_two_workers_create_one_task(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, FAST_UPKEEP, workers=2) as server:

        def post(_: int) -> httpx.Response:
            return loopback.post(
                f"{server.url}/tasks/count",
                json={"n": 1, "interval": 0},
                headers={"Idempotency-Key": "burst-of-twenty"},
                timeout=10,
            )

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(post, range(20)))
        statuses = Counter(answer.status_code for answer in answers)
        assert statuses == {202: 1, 200: 19}, [a.text for a in answers if a.status_code >= 400]
        assert len({answer.json()["id"] for answer in answers}) == 1
        assert all(
            a.headers.get("Idempotent-Replayed") == "true" for a in answers if a.status_code == 200
        )
        listed = loopback.get(f"{server.url}/tasks", params={"name": "count"}, timeout=10).json()
        assert len(listed["tasks"]) == 1
