"""The Flask example (``examples/flask``) with real processes: gunicorn serving the WSGI app
with 8 threads, whose views submit through a ``tasks.Producer``, and a ``quart tasks worker``
of the example app on the same store, SQLite then PostgreSQL.

``GET /start_task?value=0`` answers 202 with a task held by nobody, which the worker runs;
``quart tasks status`` shows it; 8 threads of requests at once lose none; a bad value gets
400 and stores nothing. On PostgreSQL, ``POST /orders`` writes an order and submits its
task in one SQLAlchemy transaction: an order the database refuses leaves no task.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tasks import TaskRecord, store_from_url
from tests import loopback
from tests.servers import ROOT, ChildProcess, loopback_socket, tool_environment
from tests.workers import Worker

pytestmark = [pytest.mark.server, pytest.mark.timeout(180)]

APP = "quart_app:create_app()"
FLASK_APP = "examples.flask.app:app"
THREADS = 8


class Gunicorn(ChildProcess):
    """``gunicorn --threads 8`` serving the Flask example on a socket bound here (port 0, so
    the kernel picks a free port, handed over as ``fd://N``: no port is raced for)."""

    def __init__(self, database: str, *, log_path: Path) -> None:
        self.database = database
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30.0) -> Gunicorn:
        with loopback_socket() as sock:
            sock.listen(1024)
            self.port = sock.getsockname()[1]
            command = [
                sys.executable, "-m", "gunicorn", "--threads", str(THREADS),
                "--bind", f"fd://{sock.fileno()}", FLASK_APP,
            ]  # fmt: skip
            env = {
                **os.environ,
                "TASKS_DATABASE": self.database,
                # gunicorn 24+ opens a control socket in ~/.gunicorn: one of this test's own
                "HOME": str(self.log_path.parent),
            }
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    command,
                    cwd=ROOT,  # the clone's root, from which `examples` and `quart_app` import
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(sock.fileno(),),
                    start_new_session=True,
                )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until the app answers, its producer started: a record it lacks is a JSON 404."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log()}")
            try:
                response = loopback.get(f"{self.url}/tasks/none", timeout=10)
                if response.status_code == 404 and response.json()["error"]["code"]:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"gunicorn did not answer within {timeout} s:\n{self.log()}")
            time.sleep(0.05)  # polling a process we do not control: nothing to wait on


@contextmanager
def flask_and_worker(tmp_path: Path, database: str) -> Iterator[tuple[Gunicorn, Worker]]:
    """The Flask example and a worker of the example app, both on ``database``."""
    env = {
        "QUART_TASKS_DATABASE": database,
        "QUART_TASKS_POLL_INTERVAL": "0.25",
        "QUART_EXPORTS_FOLDER": str(tmp_path / "exports"),  # not the checkout's instance folder
    }
    worker = Worker(env, app=APP, log_path=tmp_path / "worker.log", concurrency=8)
    web = Gunicorn(database, log_path=tmp_path / "gunicorn.log")
    try:
        worker.start()
        web.start()
        yield web, worker
    finally:
        try:
            web.stop()
        finally:
            worker.stop()


def stored_when(
    database: str, condition: Callable[[dict[str, TaskRecord]], bool], *, timeout: float = 60
) -> dict[str, TaskRecord]:
    """Read the store until ``condition`` holds of its records; other processes write them."""

    async def poll() -> dict[str, TaskRecord]:
        store = store_from_url(database)
        await store.open()
        try:
            deadline = time.monotonic() + timeout
            while True:
                seen = {record.id: record for record in await store.query(limit=1000)}
                if condition(seen):
                    return seen
                if time.monotonic() > deadline:
                    states = sorted(record.state.value for record in seen.values())
                    raise AssertionError(f"condition not met in {timeout} s; states: {states}")
                await asyncio.sleep(0.1)
        finally:
            await store.close()

    return asyncio.run(poll())


def all_ended(ids: list[str]) -> Callable[[dict[str, TaskRecord]], bool]:
    return lambda seen: all(i in seen and seen[i].state.terminal for i in ids)


def pid_of(record: TaskRecord) -> int:
    assert record.owner is not None
    return int(record.owner.split(":")[1])


def start_task(client: httpx.Client, value: str) -> dict[str, Any]:
    response = client.get("/start_task", params={"value": value})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "started"
    assert response.headers["Location"] == f"/tasks/{body['task']['id']}"
    return body


def test_a_flask_view_submits_and_a_worker_runs_it(tmp_path: Path, database_url: str) -> None:
    with (
        flask_and_worker(tmp_path, database_url) as (web, worker),
        loopback.client(base_url=web.url, timeout=30) as client,
    ):
        task = start_task(client, "0")["task"]
        assert (task["name"], task["kwargs"]) == ("sleep", {"seconds": 0.0})
        assert (task["state"], task["owner"]) == ("queued", None)  # held by nobody

        for value in ("abc", "-1", "86401", "nan", ""):
            response = client.get("/start_task", params={"value": value})
            assert response.status_code == 400, (value, response.text)
            assert response.json()["error"]["code"] == "invalid_arguments"
            assert "seconds" in response.json()["error"]["message"]

        seen = stored_when(database_url, all_ended([task["id"]]))
        assert list(seen) == [task["id"]]  # the bad values stored nothing
        record = seen[task["id"]]
        assert (record.state.value, record.attempts) == ("succeeded", 1)
        assert pid_of(record) == worker.pid

        status = client.get(f"/tasks/{task['id']}")  # the Flask app's own view of it
        assert (status.status_code, status.json()["state"]) == (200, "succeeded")
        missing = client.get("/tasks/0123456789abcdef")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "task_not_found"

    shown = subprocess.run(
        [sys.executable, "-m", "quart", "--app", APP, "tasks", "status", task["id"]],
        cwd=ROOT,
        env={**tool_environment(), "QUART_TASKS_DATABASE": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^state\s+succeeded$", shown.stdout, re.M), shown.stdout


def test_eight_threads_of_requests_lose_nothing(tmp_path: Path, database_url: str) -> None:
    per_thread = 25
    with flask_and_worker(tmp_path, database_url) as (web, worker):

        def requests(_: int) -> list[str]:
            with loopback.client(base_url=web.url, timeout=30) as client:
                return [start_task(client, "0")["task"]["id"] for _ in range(per_thread)]

        with ThreadPoolExecutor(THREADS) as pool:
            ids = [i for batch in pool.map(requests, range(THREADS)) for i in batch]
        assert len(set(ids)) == len(ids) == THREADS * per_thread

        seen = stored_when(database_url, all_ended(ids), timeout=90)
    assert sorted(seen) == sorted(ids)  # every task answered for is stored, and nothing else
    assert {(record.state.value, record.attempts) for record in seen.values()} == {("succeeded", 1)}
    assert {pid_of(record) for record in seen.values()} == {worker.pid}
    assert "Traceback" not in web.log()


def test_an_order_and_its_task_commit_together_or_not_at_all(
    tmp_path: Path, postgres_url: str
) -> None:
    with (
        flask_and_worker(tmp_path, postgres_url) as (web, _),
        loopback.client(base_url=web.url, timeout=30) as client,
    ):
        placed = client.post("/orders", params={"email": "ann@example.com", "quantity": "2"})
        assert placed.status_code == 201, placed.text
        task = placed.json()["task"]
        assert (task["name"], task["kwargs"]) == ("notify", {"to": "ann@example.com"})
        refusals = [("bo@example.com", "0"), ("bo@example.com", "abc"),
                    ("bo@example.com", "99999999999"), ("bo\x00@example.com", "1")]  # fmt: skip
        for email, quantity in refusals:  # by the database (a check, a value), or the view
            refused = client.post("/orders", params={"email": email, "quantity": quantity})
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["code"] == "order_refused"
        seen = stored_when(postgres_url, all_ended([task["id"]]))
    assert list(seen) == [task["id"]]  # the refused order's task rolled back with it
    assert (seen[task["id"]].state.value, seen[task["id"]].result) == (
        "succeeded",
        "notified ann@example.com",
    )
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT email, quantity FROM example_orders").fetchall()
    assert rows == [("ann@example.com", 2)]
    assert "Traceback" not in web.log()
