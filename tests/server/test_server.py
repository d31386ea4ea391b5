"""Against a real Hypercorn process: the response goes out before the work is done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tasks import SQLiteStore, State, TaskRecord
from tests import loopback
from tests.servers import running_server

pytestmark = pytest.mark.server

TERMINAL = {state.value for state in State if state.terminal}


def poll_until(
    client: httpx.Client, task_id: str, states: set[str], timeout: float = 15.0
) -> dict[str, Any]:
    """GET the record until its state is one of ``states``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record: dict[str, Any] = client.get(f"/tasks/{task_id}").json()
        if record["state"] in states:
            return record
        time.sleep(0.05)  # another process runs the task: nothing here to wait on
    raise AssertionError(f"task {task_id} did not reach {states} within {timeout} s: {record}")


def read_record(database: Path, task_id: str) -> TaskRecord | None:
    async def read() -> TaskRecord | None:
        store = SQLiteStore(database)
        await store.open()
        try:
            return await store.get(task_id)
        finally:
            await store.close()

    return asyncio.run(read())


def received(call: Any) -> tuple[httpx.Response, datetime]:
    """The response, and when it arrived: on the clock the server stamps its records with, so
    that it compares with the task's ``finished_at`` however slowly a busy machine answers."""
    response = call()
    return response, datetime.now(UTC)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    """A client of a real server, its store in the test's folder."""
    with (
        running_server(tmp_path) as server,
        loopback.client(base_url=server.url, timeout=10.0) as client,
    ):
        yield client


def test_the_202_arrives_long_before_a_2_second_task_ends(client: httpx.Client) -> None:
    response, arrived = received(lambda: client.post("/tasks/sleep", json={"seconds": 2}))

    assert response.status_code == 202
    submitted = response.json()
    assert submitted["state"] == "queued"
    assert response.headers["Location"] == f"/tasks/{submitted['id']}"
    record = poll_until(client, submitted["id"], TERMINAL)
    assert record["state"] == "succeeded"
    assert record["result"] == 2.0
    ran = datetime.fromisoformat(record["finished_at"]) - datetime.fromisoformat(
        record["started_at"]
    )
    assert ran.total_seconds() >= 2
    assert arrived < datetime.fromisoformat(record["finished_at"])  # before the task ended


def test_start_task_then_a_graceful_stop_lets_it_finish(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        with loopback.client(base_url=server.url, timeout=10.0) as client:
            response, arrived = received(lambda: client.get("/start_task?value=1"))
            assert response.status_code == 202
            body = response.json()
            assert body["status"] == "started"
            task_id = body["task"]["id"]
            poll_until(client, task_id, {"running"})

        assert server.stop() == 0

    record = read_record(tmp_path / "tasks.sqlite3", task_id)
    assert record is not None
    assert record.state is State.SUCCEEDED
    assert record.finished_at is not None
    assert arrived < record.finished_at  # the answer came before the task's end


def test_bad_input_over_the_wire_gets_json_errors(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(40):
            yield b"x" * 65_536
        yield b'"}'

    answers = {
        "malformed": client.post("/tasks/sleep", content=b'{"seconds": '),
        "not an object": client.post("/tasks/sleep", content=b"[5]"),
        "unknown task": client.post("/tasks/nope", content=b"{}" + b" " * 900_000),
        "unknown id": client.get("/tasks/0123456789abcdef"),
        "wrong arguments": client.post("/tasks/sleep", json={"seconds": "soon"}),
        "too large": client.post("/tasks/fail", content=b"x" * (2 * 1024 * 1024)),
        "too large, chunked": client.post("/tasks/fail", content=chunks()),
        "no route": client.get("/nowhere"),
        "wrong method": client.put("/tasks/sleep"),
    }

    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "malformed": 400,
        "not an object": 400,
        "unknown task": 404,
        "unknown id": 404,
        "wrong arguments": 422,
        "too large": 413,
        "too large, chunked": 413,
        "no route": 404,
        "wrong method": 405,
    }
    for response in answers.values():
        assert set(response.json()["error"]) == {"code", "message"}
    assert answers["too large"].headers["Connection"] == "close"
    assert answers["too large, chunked"].headers["Connection"] == "close"
    assert client.get("/tasks").json() == {"tasks": []}


def test_a_keep_alive_client_survives_errors_sent_before_the_body_was_read(
    client: httpx.Client,
) -> None:
    large = b"x" * 900_000
    for _ in range(20):
        assert client.post("/tasks/nope", content=large).status_code == 404
        assert client.put("/tasks/sleep", content=large).status_code == 405
        assert client.get("/healthz").status_code == 200
