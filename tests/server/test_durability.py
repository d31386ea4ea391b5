"""Nothing lost, through kill -9, SIGTERM and several workers, on real Hypercorn processes."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests import loopback
from tests.servers import Server, connection_to_each_worker, running_server

pytestmark = [pytest.mark.server, pytest.mark.timeout(180)]

FAST_UPKEEP = {"QUART_TASKS_POLL_INTERVAL": "0.2"}


def post(server: Server, name: str, body: dict[str, Any]) -> str:
    """Submit through a new connection, so that several workers share the load."""
    response = loopback.post(f"{server.url}/tasks/{name}", json=body, timeout=10)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def post_many(server: Server, name: str, body: dict[str, Any], count: int) -> list[str]:
    """Submit ``count`` tasks from several threads: faster than they run, even on a busy
    machine, so that some are still waiting when the test looks."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: post(server, name, body), range(count)))


def records(server: Server) -> dict[str, dict[str, Any]]:
    response = loopback.get(f"{server.url}/tasks", params={"limit": 1000}, timeout=10)
    return {record["id"]: record for record in response.json()["tasks"]}


def wait_until(
    server: Server,
    condition: Callable[[dict[str, dict[str, Any]]], bool],
    *,
    timeout: float = 60,
) -> dict[str, dict[str, Any]]:
    """Poll the server's task list until ``condition`` holds; a remote process has no event."""
    deadline = time.monotonic() + timeout
    while True:
        seen = records(server)
        if condition(seen):
            return seen
        if time.monotonic() > deadline:
            states = Counter(record["state"] for record in seen.values())
            raise AssertionError(f"condition not met in {timeout} s; states: {dict(states)}")
        time.sleep(0.1)


def all_ended(ids: list[str]) -> Callable[[dict[str, dict[str, Any]]], bool]:
    terminal = {"succeeded", "failed", "cancelled"}
    return lambda seen: all(seen.get(i, {}).get("state") in terminal for i in ids)


def mid_flight(ids: list[str]) -> Callable[[dict[str, dict[str, Any]]], bool]:
    def check(seen: dict[str, dict[str, Any]]) -> bool:
        states = Counter(seen[i]["state"] for i in ids if i in seen)
        return states["succeeded"] >= 4 and states["running"] >= 1 and states["queued"] >= 1

    return check


def assert_clean_log(server: Server) -> None:
    log = server.log()
    assert "Task was destroyed but it is pending" not in log
    assert "Traceback" not in log


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
def test_every_accepted_task_ends_after_a_stop_and_restart(
    tmp_path: Path, database_url: str, workers: int, stop: str
) -> None:
    env = {"QUART_TASKS_DATABASE": database_url, "QUART_TASKS_MAX_RUNNING": "4", **FAST_UPKEEP}
    with running_server(tmp_path, env, workers=workers) as server:
        ids = post_many(server, "sleep", {"seconds": 1}, 50)
        wait_until(server, mid_flight(ids))
        if stop == "kill -9":
            server.kill()
        else:
            server.signal(signal.SIGTERM)
            assert server.wait(60) == 0
            stopped = stored_records(database_url)
            # what ran when SIGTERM came finished in the drain window, nothing was cut short
            assert "running" not in {record["state"] for record in stopped.values()}

    with running_server(tmp_path, env, workers=workers) as server:
        final = wait_until(server, all_ended(ids), timeout=90)
        assert sorted(final) == sorted(ids)
        assert {final[i]["state"] for i in ids} == {"succeeded"}
        if stop == "SIGTERM":
            assert {final[i]["attempts"] for i in ids} == {1}
            assert_clean_log(server)


def stored_records(database_url: str) -> dict[str, dict[str, Any]]:
    """Read the store directly while no server runs."""
    import asyncio

    from tasks import store_from_url

    async def read() -> dict[str, dict[str, Any]]:
        store = store_from_url(database_url)
        await store.open()
        try:
            return {r.id: r.to_dict() for r in await store.query(limit=1000)}
        finally:
            await store.close()

    return asyncio.run(read())


def test_sigterm_lets_short_tasks_finish_and_resumes_long_ones(
    tmp_path: Path, database_url: str
) -> None:
    env = {
        "QUART_TASKS_DATABASE": database_url,
        "QUART_BACKGROUND_TASK_SHUTDOWN_TIMEOUT": "2",
        **FAST_UPKEEP,
    }
    with running_server(tmp_path, env) as server:
        # long ones first: the short ones must still run when all four are seen running,
        # however slowly a busy machine answers the POSTs and the polls
        long = [post(server, "sleep", {"seconds": 8}) for _ in range(2)]
        short = [post(server, "sleep", {"seconds": 1.5}) for _ in range(2)]
        wait_until(server, lambda seen: all(seen[i]["state"] == "running" for i in short + long))
        server.signal(signal.SIGTERM)
        assert server.wait(30) == 0
        log = server.log()
        assert "Task was destroyed but it is pending" not in log
        assert all(f"({i}): its thread is still busy" in log for i in long)

    stopped = stored_records(database_url)
    assert {stopped[i]["state"] for i in short} == {"succeeded"}
    assert {stopped[i]["state"] for i in long} == {"running"}

    with running_server(tmp_path, env) as server:
        final = wait_until(server, all_ended(long), timeout=60)
        assert [(final[i]["state"], final[i]["attempts"]) for i in long] == [("succeeded", 2)] * 2


def test_two_workers_share_status_list_and_cancel(tmp_path: Path, database_url: str) -> None:
    env = {"QUART_TASKS_DATABASE": database_url, **FAST_UPKEEP}
    with running_server(tmp_path, env, workers=2) as server:
        clients = connection_to_each_worker(server, 2)
        (first, one), (_, other) = clients.items()
        try:
            created = one.post("/tasks/sleep", json={"seconds": 60}).json()
            assert created["owner"] == first

            seen = other.get(f"/tasks/{created['id']}").json()
            assert seen["id"] == created["id"]
            listed = other.get("/tasks", params={"name": "sleep"}).json()["tasks"]
            assert created["id"] in {record["id"] for record in listed}

            response = other.delete(f"/tasks/{created['id']}")
            assert response.status_code == 202
            deadline = time.monotonic() + 15
            while other.get(f"/tasks/{created['id']}").json()["state"] != "cancelled":
                assert time.monotonic() < deadline, "the owner never acted on the cancel"
                time.sleep(0.1)
        finally:
            for client in clients.values():
                client.close()


def test_a_dead_worker_s_tasks_run_exactly_once_where_they_must_not_repeat(
    tmp_path: Path, database_url: str
) -> None:
    env = {"QUART_TASKS_DATABASE": database_url, "QUART_TASKS_MAX_RUNNING": "1", **FAST_UPKEEP}
    app = "tests.durable_app:create_app()"
    runs = tmp_path / "runs"
    runs.mkdir()
    with running_server(tmp_path, env, workers=2, app=app) as server:
        clients = connection_to_each_worker(server, 2)
        ids = []
        try:
            for index in range(8):
                client = list(clients.values())[index % 2]
                body = {"path": str(runs / f"{index}.log"), "seconds": 1.5}
                response = client.post("/tasks/mark", json=body)
                assert response.status_code == 202
                ids.append(response.json()["id"])
        finally:
            for client in clients.values():
                client.close()
        seen = wait_until(
            server,
            lambda seen: len({r["owner"] for r in seen.values() if r["state"] == "running"}) == 2,
        )
        victim = next(r["owner"] for r in seen.values() if r["state"] == "running")
        signal_worker(victim, signal.SIGKILL)
        # Hypercorn's parent now stops the other worker; it drains instead of dying mid-task.
        server.wait(60)

    with running_server(tmp_path, env, workers=2, app=app) as server:
        final = wait_until(server, all_ended(ids), timeout=90)
        executions = {
            i: len((runs / f"{n}.log").read_text().splitlines()) for n, i in enumerate(ids)
        }
        assert set(executions.values()) == {1}, executions
        outcomes = Counter((final[i]["state"], (final[i]["error"] or {}).get("type")) for i in ids)
        assert outcomes[("failed", "interrupted")] == 1  # only the victim's running task
        assert outcomes[("succeeded", None)] == 7


def signal_worker(owner: str, signum: int) -> None:
    import os

    pid = int(owner.split(":")[1])
    os.kill(pid, signum)
