"""Durable workflows as a user runs them: the example app's ``fulfil`` and ``sum_squares``.

On SQLite in one Hypercorn process, and on PostgreSQL with web and worker processes (the
workers take their tasks from the store, or from Redis): a durable order killed with -9 in
its second step ends ``succeeded`` with its card charged once; fan-out parents sum their
children, eight of them on two running slots; a failed child fails its parent; cancelling a
parent cancels its children.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import loopback
from tests.readme_examples import write_workflow_app
from tests.server.test_durability import all_ended, post
from tests.servers import Server, running_server
from tests.workers import Worker

pytestmark = [pytest.mark.server, pytest.mark.timeout(240)]

APP = "tests.worker_app:create_app()"
UPKEEP = {"QUART_TASKS_POLL_INTERVAL": "0.25"}


def record(server: Server, task_id: str) -> dict[str, Any]:
    response = loopback.get(f"{server.url}/tasks/{task_id}", timeout=10)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def wait_for(
    server: Server, task_id: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 90
) -> dict[str, Any]:
    """Read the task until ``condition`` holds; another process does the work."""
    deadline = time.monotonic() + timeout
    while True:
        seen = record(server, task_id)
        if condition(seen):
            return seen
        assert time.monotonic() < deadline, f"not within {timeout} s: {json.dumps(seen)[:2000]}"
        time.sleep(0.05)


def ended(seen: dict[str, Any]) -> bool:
    return bool(all_ended([seen["id"]])({seen["id"]: seen}))


def in_second_step(seen: dict[str, Any]) -> bool:
    steps = seen["steps"]
    return len(steps) == 2 and steps[1]["state"] == "running"


def charges(folder: Path) -> list[dict[str, Any]]:
    ledger = folder / "charges.log"
    return [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []


def check_the_resumed_order(server: Server, task_id: str, exports: Path) -> None:
    done = wait_for(server, task_id, ended)
    assert done["state"] == "succeeded", done
    assert [charge["order_id"] for charge in charges(exports)] == [41]  # charged once
    assert [(step["name"], step["state"]) for step in done["steps"]] == [
        ("charge", "succeeded"),
        ("invoice", "succeeded"),
        ("notify", "succeeded"),
    ]
    assert done["result"]["sent"] == 2
    assert done["result"]["charge"] == done["steps"][0]["result"]
    assert done["attempts"] == 2  # the run cut short, then the one that finished
    assert len(done["children"]) == 2


def check_fan_out_and_fan_in(server: Server) -> None:
    parents = [post(server, "sum_squares", {"count": 10}) for _ in range(8)]
    for parent in parents:
        done = wait_for(server, parent, ended)
        assert (done["state"], done["result"]) == ("succeeded", 285), done
        assert len(done["children"]) == 10
        child = record(server, done["children"][4])
        assert (child["parent"], child["result"]) == (parent, 16)


def check_failed_child(server: Server) -> None:
    parent = post(server, "sum_squares", {"count": 4, "fail_at": 2})
    done = wait_for(server, parent, ended)
    assert done["state"] == "failed"
    assert done["error"]["type"] == "ChildFailed"
    assert "square 2 was asked to fail" in done["error"]["message"]


def check_cancel_reaches_the_children(server: Server) -> None:
    parent = post(server, "sum_squares", {"count": 3, "seconds": 600})
    seen = wait_for(server, parent, lambda seen: len(seen["children"]) == 3)
    for child in seen["children"]:
        wait_for(server, child, lambda child: child["state"] in {"queued", "running"})
    response = loopback.delete(f"{server.url}/tasks/{parent}", timeout=15)
    assert response.status_code in {200, 202}, response.text
    assert wait_for(server, parent, ended)["state"] == "cancelled"
    for child in seen["children"]:
        assert wait_for(server, child, ended, timeout=30)["state"] == "cancelled"


def test_workflows_in_one_process_on_sqlite(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    env = {
        "QUART_TASKS_DATABASE": str(tmp_path / "tasks.sqlite3"),
        "QUART_EXPORTS_FOLDER": str(exports),
        "QUART_TASKS_MAX_RUNNING": "2",
        **UPKEEP,
    }
    server = Server(env, log_path=tmp_path / "server.log", app=APP).start()
    try:
        order = post(server, "fulfil", {"order_id": 41, "pause": 2})
        wait_for(server, order, in_second_step)
        server.kill()
        server = Server(env, log_path=tmp_path / "server.log", app=APP).start()
        check_the_resumed_order(server, order, exports)
        check_fan_out_and_fan_in(server)
        check_failed_child(server)
        check_cancel_reaches_the_children(server)
    finally:
        server.stop()
        server.kill()


def test_workflows_on_postgresql_workers(
    tmp_path: Path, postgres_url: str, handoff: dict[str, str]
) -> None:
    exports = tmp_path / "exports"
    env = {
        "QUART_TASKS_DATABASE": postgres_url,
        "QUART_EXPORTS_FOLDER": str(exports),
        **handoff,
        **UPKEEP,
    }

    def worker(n: int) -> Worker:
        return Worker(env, app=APP, log_path=tmp_path / f"worker-{n}.log", concurrency=2)

    workers = [worker(1).start()]
    web = Server(env, log_path=tmp_path / "web.log", app=APP).start()
    try:
        order = post(web, "fulfil", {"order_id": 41, "pause": 2})
        wait_for(web, order, in_second_step)
        workers[0].kill()
        workers.append(worker(2).start())  # the restart: it takes up the order
        check_the_resumed_order(web, order, exports)
        check_fan_out_and_fan_in(web)
        check_failed_child(web)
        check_cancel_reaches_the_children(web)
    finally:
        web.stop()
        web.kill()
        for each in workers:
            each.stop()


def test_the_documented_workflow_app_runs_as_written(tmp_path: Path) -> None:
    folder = write_workflow_app(tmp_path / "shop")
    with running_server(tmp_path, UPKEEP, app="shop:create_app()", cwd=folder) as server:
        response = loopback.post(f"{server.url}/orders/7", timeout=10)
        assert response.status_code == 202, response.text
        done = wait_for(server, response.json()["task"], ended)
        assert done["state"] == "succeeded", done
        assert done["result"] == {
            "charge": {"order_id": 7, "cents": 1250},
            "first": "sent INV-000007 to billing",
            "sent": 2,
        }
        assert [step["name"] for step in done["steps"]] == ["charge", "invoice", "notify"]
        children = [record(server, child) for child in done["children"]]
        assert [child["kwargs"]["to"] for child in children] == [
            "billing",
            "buyer-7@example.com",
            "accounts@example.com",
        ]
        assert {child["parent"] for child in children} == {done["id"]}
