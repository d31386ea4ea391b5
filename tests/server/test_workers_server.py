"""Web and worker processes on a PostgreSQL store, as a deployment runs them.

A real Hypercorn server hands every task on: to a broker (Redis streams, RabbitMQ), or with
no broker and ``TASKS_RUN_TASKS = false`` to the store itself; two ``quart tasks worker``
processes run them. What is checked is what a user sees through the
web's HTTP API: tasks run on the workers (their results are the workers' process ids and the
running records name the workers as owners), progress reaches the web's event stream, a
cancel through the web stops a worker's task, a worker killed with -9 loses nothing, and a
worker drained with SIGTERM finishes what it runs and runs nothing twice.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import loopback
from tests.brokers import broker_config
from tests.server.test_durability import all_ended, post, post_many, wait_until
from tests.servers import Server
from tests.sse import events
from tests.workers import Worker

pytestmark = [pytest.mark.server, pytest.mark.timeout(240)]

APP = "tests.worker_app:create_app()"


@dataclass
class Deployment:
    web: Server
    workers: list[Worker]
    tmp_path: Path

    def worker_pids(self) -> set[int]:
        return {worker.pid for worker in self.workers}


@dataclass
class Watch:
    """Every record the web's ``/events`` stream sent, read by a thread of its own."""

    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Watch:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._ready.wait(20), "the event stream did not open"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(20)

    def _read(self) -> None:
        with (
            loopback.client(timeout=httpx.Timeout(10, read=1.0)) as client,
            client.stream("GET", f"{self.url}/events") as response,
        ):
            self._ready.set()
            lines = response.iter_lines()
            while not self._stop.is_set():
                try:
                    for event in events(lines):
                        if event.data:
                            self.seen.append(event.record)
                        if self._stop.is_set():
                            return
                except httpx.ReadTimeout:
                    return  # a quiet stream past the read timeout: the test is done with it

    def running_owners(self, ids: set[str]) -> dict[str, str]:
        return {
            record["id"]: record["owner"]
            for record in list(self.seen)
            if record["id"] in ids and record["state"] == "running"
        }


def pid_of(owner: str) -> int:
    return int(owner.split(":")[1])


@pytest.fixture(params=["redis", "rabbitmq", "store"])
def handoff(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """How the web hands tasks to the workers, as environment variables: each broker in
    turn (a queue of the test's own), then none (the workers take from the store)."""
    if request.param == "store":
        yield {"QUART_TASKS_RUN_TASKS": "false"}
        return
    with broker_config(request) as broker:
        yield broker.env()


def start_deployment(tmp_path: Path, env: dict[str, str]) -> Deployment:
    workers = [
        Worker(env, app=APP, log_path=tmp_path / f"worker-{n}.log", concurrency=4) for n in (1, 2)
    ]
    deployment = Deployment(Server(env, log_path=tmp_path / "web.log", app=APP), workers, tmp_path)
    try:
        for worker in workers:
            worker.start()
        deployment.web.start()
    except BaseException:
        stop_deployment(deployment)  # what did start
        raise
    return deployment


def stop_deployment(deployment: Deployment) -> None:
    deployment.web.stop()
    deployment.web.kill()
    for worker in deployment.workers:
        worker.stop()


@pytest.fixture
def deployment(tmp_path: Path, postgres_url: str, handoff: dict[str, str]) -> Iterator[Deployment]:
    env = {
        "QUART_TASKS_DATABASE": postgres_url,
        **handoff,
        "QUART_TASKS_POLL_INTERVAL": "0.25",
        "QUART_EVENTS_KEEPALIVE_INTERVAL": "0.5",
    }
    deployment = start_deployment(tmp_path, env)
    try:
        yield deployment
    finally:
        stop_deployment(deployment)


def wait_for(condition: Callable[[], bool], *, timeout: float = 60, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)  # other processes do the work: poll what they wrote


def test_the_workers_run_the_tasks_and_report_to_the_web(deployment: Deployment) -> None:
    web, pids = deployment.web, deployment.worker_pids()
    web_owner = loopback.get(f"{web.url}/healthz", timeout=10).json()["worker"]

    with Watch(web.url) as watch:
        ids = post_many(web, "whoami", {"seconds": 0.3}, 40)
        seen = wait_until(web, all_ended(ids), timeout=90)
        owners = watch.running_owners(set(ids))
    assert [seen[i]["state"] for i in ids] == ["succeeded"] * 40
    ran_on = {seen[i]["result"] for i in ids}
    assert ran_on == pids  # every task ran on a worker, and both workers ran some
    # each finished record names the worker that ended it
    assert all(pid_of(seen[i]["owner"]) == seen[i]["result"] for i in ids)
    assert owners, "the event stream showed no running record"
    assert {pid_of(owner) for owner in owners.values()} <= pids
    assert web_owner not in owners.values()

    # Progress written by a worker reaches the web's stream of that task.
    task_id = post(web, "count", {"n": 8, "interval": 0.15})
    with loopback.stream("GET", f"{web.url}/tasks/{task_id}/events", timeout=30) as response:
        streamed = [event.record for event in events(response.iter_lines()) if event.data]
    running = [record for record in streamed if record["state"] == "running"]
    assert any(0 < record["progress"]["current"] < 8 for record in running if record["progress"])
    assert all(pid_of(record["owner"]) in pids for record in running)
    assert (streamed[-1]["state"], streamed[-1]["result"]) == ("succeeded", 8)

    # A cancel through the web reaches the worker that runs the task.
    task_id = post(web, "sleep", {"seconds": 120})
    wait_until(web, lambda seen: seen[task_id]["state"] == "running", timeout=30)
    asked = time.monotonic()
    assert loopback.delete(f"{web.url}/tasks/{task_id}", timeout=10).status_code == 202
    wait_until(web, lambda seen: seen[task_id]["state"] == "cancelled", timeout=10)
    assert time.monotonic() - asked < 5


def test_a_killed_worker_loses_nothing_and_a_drained_one_runs_nothing_twice(
    deployment: Deployment,
) -> None:
    web = deployment.web
    first, second = deployment.workers

    # kill -9 mid-run: idempotent tasks run again on the other worker; every task ends.
    ids = post_many(web, "whoami", {"seconds": 1.0}, 16)
    wait_until(
        web,
        lambda seen: any(
            r["state"] == "running" and pid_of(r["owner"]) == first.pid
            for r in seen.values()
            if r["owner"]
        ),
        timeout=30,
    )
    first.kill()
    seen = wait_until(web, all_ended(ids), timeout=90)
    assert [seen[i]["state"] for i in ids] == ["succeeded"] * 16
    assert any(seen[i]["attempts"] == 2 for i in ids)  # caught mid-run, run again
    assert {seen[i]["result"] for i in ids} <= {first.pid, second.pid}

    # SIGTERM: the worker takes no more tasks, finishes those it runs, hands back the rest.
    replacement = Worker(
        first.env, app=first.app, log_path=deployment.tmp_path / "worker-3.log", concurrency=2
    ).start()
    deployment.workers.append(replacement)
    marks = deployment.tmp_path / "marks"
    marks.mkdir()
    ids = [post(web, "mark", {"path": str(marks / f"{n}.log"), "seconds": 1.5}) for n in range(10)]
    before = wait_until(
        web,
        lambda seen: any(
            r["state"] == "running" and pid_of(r["owner"]) == replacement.pid
            for r in seen.values()
            if r["owner"]
        ),
        timeout=30,
    )
    held = {i for i in ids if before[i]["owner"] and pid_of(before[i]["owner"]) == replacement.pid}
    replacement.signal(signal.SIGTERM)
    assert replacement.wait(60) == 0
    assert "drains" in replacement.log()
    seen = wait_until(web, all_ended(ids), timeout=90)
    assert [seen[i]["state"] for i in ids] == ["succeeded"] * 10
    assert all(seen[i]["attempts"] == 1 for i in held)  # it finished what it ran
    assert [len((marks / f"{n}.log").read_text().splitlines()) for n in range(10)] == [1] * 10
    assert "Traceback" not in replacement.log()


def test_a_worker_without_a_broker_starts_a_delayed_task_on_time_not_at_its_next_poll(
    tmp_path: Path, postgres_url: str
) -> None:
    env = {
        "QUART_TASKS_DATABASE": postgres_url,
        "QUART_TASKS_RUN_TASKS": "false",
        "QUART_TASKS_POLL_INTERVAL": "10",  # a poll would start it up to 10 s late
    }
    deployment = start_deployment(tmp_path, env)
    try:
        web, pids = deployment.web, deployment.worker_pids()
        response = loopback.post(
            f"{web.url}/tasks/whoami", params={"delay": 2}, json={"seconds": 0}, timeout=10
        )
        assert response.status_code == 202, response.text
        task_id = response.json()["id"]
        seen = wait_until(web, all_ended([task_id]), timeout=30)
        record = seen[task_id]
        assert (record["state"], record["result"] in pids) == ("succeeded", True)
        late = seconds_between(record["run_at"], record["started_at"])
        assert 0 <= late < 2.0, f"started {late:.3f} s after its time"
        # and a task submitted now starts at once, woken by the store, not by a poll
        task_id = post(web, "whoami", {"seconds": 0})
        record = wait_until(web, all_ended([task_id]), timeout=30)[task_id]
        assert seconds_between(record["created_at"], record["started_at"]) < 2.0
    finally:
        stop_deployment(deployment)


def seconds_between(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def test_on_sqlite_a_worker_without_a_broker_runs_what_the_web_stores(tmp_path: Path) -> None:
    """One machine, one SQLite file: the web only stores, the worker looks every 0.25 s."""
    env = {
        "QUART_TASKS_DATABASE": str(tmp_path / "tasks.sqlite3"),
        "QUART_TASKS_RUN_TASKS": "false",
    }
    deployment = start_deployment(tmp_path, env)
    try:
        web, pids = deployment.web, deployment.worker_pids()
        ids = post_many(web, "whoami", {"seconds": 0.1}, 12)
        seen = wait_until(web, all_ended(ids), timeout=60)
        assert [seen[i]["state"] for i in ids] == ["succeeded"] * 12
        assert {seen[i]["result"] for i in ids} <= pids  # none ran on the web
    finally:
        stop_deployment(deployment)
