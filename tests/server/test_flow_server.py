"""Queues and priorities with real processes: who runs which queue, and what starts first.

On PostgreSQL with two ``quart tasks worker`` processes, one started with ``--queue email``
and one with ``--queue default``, each runs only its own queue's tasks; on SQLite with
``hypercorn -w 2`` and the one slot of each process busy, tasks submitted later with a
higher priority start before earlier low-priority ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.test_durability import all_ended, post, wait_until
from tests.servers import Server, connection_to_each_worker, running_server
from tests.workers import Worker

pytestmark = [pytest.mark.server, pytest.mark.timeout(180)]

APP = "tests.worker_app:create_app()"


def pid_of(record: dict[str, Any]) -> int:
    return int(record["owner"].split(":")[1])


def test_a_worker_started_with_a_queue_runs_only_that_queue(
    tmp_path: Path, postgres_url: str
) -> None:
    env = {
        "QUART_TASKS_DATABASE": postgres_url,
        "QUART_TASKS_RUN_TASKS": "false",
        "QUART_TASKS_POLL_INTERVAL": "0.25",
    }
    email = Worker(env, app=APP, log_path=tmp_path / "e.log", concurrency=2, queues=("email",))
    other = Worker(env, app=APP, log_path=tmp_path / "d.log", concurrency=2, queues=("default",))
    web: Server | None = None
    try:
        email.start()
        other.start()
        web = Server(env, log_path=tmp_path / "web.log", app=APP).start()
        mails = [
            post(web, "send_email", {"to": f"{n}@example.com", "invoice": "I"}) for n in range(8)
        ]
        others = [post(web, "whoami", {}) for _ in range(8)]
        seen = wait_until(web, all_ended(mails + others), timeout=60)
    finally:
        if web is not None:
            web.stop()
            web.kill()
        email.stop()
        other.stop()
    assert {seen[i]["state"] for i in mails + others} == {"succeeded"}
    assert {pid_of(seen[i]) for i in mails} == {email.pid}
    assert {seen[i]["queue"] for i in mails} == {"email"}
    assert {seen[i]["result"] for i in others} == {other.pid}


def submit(client: httpx.Client, name: str, body: dict[str, Any], query: str = "") -> str:
    response = client.post(f"/tasks/{name}{query}", json=body)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def test_later_higher_priorities_start_first_on_two_processes(tmp_path: Path) -> None:
    env = {"QUART_TASKS_MAX_RUNNING": "1", "QUART_TASKS_POLL_INTERVAL": "0.25"}
    with running_server(tmp_path, env, workers=2) as server:
        clients = list(connection_to_each_worker(server, 2).values())
        try:
            # each process holds what it accepts: a long task takes its one slot until
            # cancelled, once every other task waits
            blockers = [submit(client, "sleep", {"seconds": 600}) for client in clients]
            wait_until(server, lambda seen: all(seen[b]["state"] == "running" for b in blockers))
            low = [submit(c, "noop", {}, "?priority=-5") for c in clients for _ in range(3)]
            high = [submit(c, "noop", {}, "?priority=5") for c in clients for _ in range(2)]
            for client, blocker in zip(clients, blockers, strict=True):
                assert client.delete(f"/tasks/{blocker}").status_code in {200, 202}
            seen = wait_until(server, all_ended(blockers + low + high), timeout=60)
        finally:
            for client in clients:
                client.close()
    assert {seen[i]["state"] for i in low + high} == {"succeeded"}
    for process in {seen[b]["owner"] for b in blockers}:
        mine = sorted(
            (i for i in low + high if seen[i]["owner"] == process),
            key=lambda i: seen[i]["started_at"],
        )
        assert [seen[i]["priority"] for i in mine] == [5, 5, -5, -5, -5]
