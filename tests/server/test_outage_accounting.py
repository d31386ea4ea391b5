"""Fault injection on a real server: the PostgreSQL store is cut mid-load by a relay and
restored, and every task the server answered ``202`` for is accounted for: each ends in its
true state, after exactly one attempt, without anyone restarting anything."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests import loopback
from tests.outage import Relay
from tests.servers import Server, running_server

pytestmark = [pytest.mark.server, pytest.mark.timeout(180)]

#: the longest any request may take while the store is away
ANSWER_WITHIN = 15.0
#: how long every accepted task may take to end once the store is back
SETTLE_WITHIN = 90.0
TASKS = [("count", {"n": 4, "interval": 0.05}), ("sleep", {"seconds": 0.1})]


def post(server: Server, number: int) -> tuple[int, str | None, dict[str, object]]:
    """Submit one task; its status, its id if accepted, and the body sent."""
    name, body = TASKS[number % len(TASKS)]
    started = time.monotonic()
    response = loopback.post(f"{server.url}/tasks/{name}", json=body, timeout=ANSWER_WITHIN + 5)
    took = time.monotonic() - started
    assert took < ANSWER_WITHIN, f"a submission took {took:.1f} s"
    assert response.status_code in {202, 503}, response.text
    if response.status_code == 503:
        assert response.headers["retry-after"]
        return 503, None, body
    return 202, response.json()["id"], body


def burst(server: Server, count: int, first: int) -> list[tuple[str, dict[str, object]]]:
    """``count`` submissions from four clients at once; the accepted ones."""
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: post(server, n), range(first, first + count)))
    return [(task_id, body) for _, task_id, body in answers if task_id is not None]


def health(server: Server) -> httpx.Response:
    return loopback.get(f"{server.url}/healthz", timeout=ANSWER_WITHIN)


def until(check: object, what: str, within: float = 30.0) -> None:
    """Poll a condition on another process (there is no event to wait on across it)."""
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_every_accepted_task_ends_once_across_a_store_outage(
    tmp_path: Path, postgres_url: str
) -> None:
    target = urlsplit(postgres_url)
    with Relay(target.hostname or "127.0.0.1", target.port or 5432) as relay:
        relay.up()
        url = target._replace(netloc=f"{target.username}@127.0.0.1:{relay.port}").geturl()
        env = {"QUART_TASKS_DATABASE": url, "QUART_TASKS_POLL_INTERVAL": "0.2"}
        with running_server(tmp_path, env) as server:
            accepted = burst(server, 24, 0)
            assert len(accepted) == 24  # the store is up: all of them

            relay.down()  # mid-load: tasks are running and waiting
            accepted += burst(server, 12, 100)  # each answers, 202 or 503, within the bound
            until(lambda: health(server).status_code == 503, "health to say the store fails")
            assert health(server).json()["status"] == "store_failing"

            relay.up()
            until(lambda: health(server).status_code == 200, "the store to answer again")
            accepted += burst(server, 12, 200)

            deadline = time.monotonic() + SETTLE_WITHIN
            for task_id, body in accepted:
                record = _ended(server, task_id, deadline)
                assert (record["state"], record["attempts"]) == ("succeeded", 1), record
                expected = body.get("n", body.get("seconds"))
                assert record["result"] == expected, record
            assert "Traceback" not in server.log()


def _ended(server: Server, task_id: str, deadline: float) -> dict[str, object]:
    while True:
        response = loopback.get(f"{server.url}/tasks/{task_id}", timeout=ANSWER_WITHIN)
        assert response.status_code == 200, response.text
        record: dict[str, object] = response.json()
        if record["state"] in {"succeeded", "failed", "cancelled"}:
            return record
        assert time.monotonic() < deadline, f"task {task_id} never ended: {record}"
        time.sleep(0.1)
