"""The peers of the benchmark suite (``python -m bench --parts peers``): each one starts, runs
the tasks its endpoint accepts, and the suite counts them.

The Redis peers need Redis (``TASKS_BENCH_REDIS_URL``, default 127.0.0.1:6379), and use their
own databases (11, 12 and 13) and flush them, as the benchmark does; a run holds each one
while it uses it (a lock file per number), so that two runs on one machine take turns.
PgQueuer and DBOS need PostgreSQL (``TASKS_TEST_POSTGRES_URL``, default user postgres on
127.0.0.1:5432), on which each start makes a new database and drops it. Without the server a
peer needs, its test skips with the reason, and in CI (``CI`` set) fails instead. Nothing
here asserts on timings.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench import burst, systems
from tests.postgres import server_url

KEYS = {"rq-1", "celery", "taskiq", "pgqueuer", "dbos"}
PEERS = [system for system in systems.SYSTEMS if system.key in KEYS]
TASKS = 20


@pytest.fixture
def servers(system: systems.System) -> None:
    """The servers ``system`` keeps its tasks on: Redis, or PostgreSQL."""
    if system.db is not None:
        problem = systems.redis_problem()
        if problem is not None:
            if os.environ.get("CI"):
                pytest.fail(f"{problem}; CI must provide one")
            pytest.skip(problem)
    if system.store == "postgres":
        server_url()  # skips where none answers (fails in CI)


@pytest.mark.server
@pytest.mark.bench
@pytest.mark.timeout(120)
@pytest.mark.usefixtures("servers")
@pytest.mark.parametrize("system", PEERS, ids=lambda system: system.key)
def test_peer_runs_every_task_it_accepts(system: systems.System, tmp_path: Path) -> None:
    try:
        with systems.started(system, tmp_path, tmp_path / "logs", system.key) as running:
            before = running.finished()  # the warm-up's tasks
            assert before == systems.WARM_UP
            sent = burst.post_many(running.url, TASKS, connections=4)
            assert (sent["ok"], sent["refused"], sent["errors"]) == (TASKS, 0, 0)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if running.finished() == before + TASKS and running.waiting() == 0:
                    break
                running.check_alive()
                time.sleep(0.1)  # the tasks run in other processes
            assert running.finished() == before + TASKS
            assert running.waiting() == 0
            web, workers = running.cpu_seconds()
            assert web > 0
            assert workers > 0
    finally:
        systems.flush(system)
