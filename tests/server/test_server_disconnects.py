"""Against a real Hypercorn process: clients that hang up mid-``POST`` strand no task."""

from __future__ import annotations

import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import loopback
from tests.servers import running_server

pytestmark = pytest.mark.server

CLIENTS = 32
REQUESTS_EACH = 40
POLL_INTERVAL = 0.2
REQUEST = (
    b"POST /tasks/noop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\n\r\n{}"
)


def post_and_hang_up(port: int, count: int) -> None:
    """Send ``count`` complete POSTs, each on a new connection reset as soon as it is sent."""
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.sendall(REQUEST)


def poll(client: httpx.Client, path: str, done: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path).json()
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(POLL_INTERVAL / 4)  # another process runs the tasks: nothing to wait on


@pytest.mark.timeout(120)
def test_connections_cut_mid_request_leave_no_task_queued(tmp_path: Path) -> None:
    env = {"QUART_TASKS_POLL_INTERVAL": str(POLL_INTERVAL), "QUART_TASKS_MAX_QUEUED": "100000"}
    with (
        running_server(tmp_path, env) as server,
        loopback.client(base_url=server.url, timeout=10.0) as client,
    ):
        with ThreadPoolExecutor(CLIENTS) as pool:
            jobs = [
                pool.submit(post_and_hang_up, server.port, REQUESTS_EACH) for _ in range(CLIENTS)
            ]
            for job in jobs:
                job.result()
        health = poll(client, "/healthz", lambda body: body["waiting"] == 0, timeout=30)
        assert health["waiting"] == 0, health
        # A stored task is queued only until its turn comes: none is left after a round.
        queued = poll(
            client,
            "/tasks?state=queued&limit=1000",
            lambda body: not body["tasks"],
            timeout=2 * POLL_INTERVAL + 5,
        )
        assert queued["tasks"] == [], f"{len(queued['tasks'])} tasks stranded"
        stored = client.get("/tasks?limit=1000").json()["tasks"]
        assert stored, "no request got as far as storing its task; the test proves nothing"
        assert {record["state"] for record in stored} == {"succeeded"}
