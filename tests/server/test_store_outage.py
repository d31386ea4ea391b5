"""A server whose PostgreSQL store goes away answers 503, never 500, and recovers by itself."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests import loopback
from tests.outage import Relay
from tests.servers import Server, running_server

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]


def answer(server: Server, method: str, path: str, **options: object) -> httpx.Response:
    return loopback.request(method, f"{server.url}{path}", timeout=30, **options)


def until_accepted(server: Server, timeout: float = 30) -> httpx.Response:
    """Submit until the server takes the task (a remote process has no event to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        response = answer(server, "POST", "/tasks/noop", json={})
        if response.status_code == 202:
            return response
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.2)


def test_503_while_the_database_is_away_then_recovery(tmp_path: Path, postgres_url: str) -> None:
    target = urlsplit(postgres_url)
    with Relay(target.hostname or "127.0.0.1", target.port or 5432) as relay:
        url = target._replace(netloc=f"{target.username}@127.0.0.1:{relay.port}").geturl()
        env = {"QUART_TASKS_DATABASE": url, "QUART_TASKS_POLL_INTERVAL": "0.2"}
        with running_server(tmp_path, env) as server:  # starts with no database at all
            for method, path in [("GET", "/tasks"), ("POST", "/tasks/noop")]:
                refused = answer(server, method, path, json={})
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"]["code"] == "store_unavailable"
                assert refused.headers["retry-after"]

            relay.up()
            accepted = until_accepted(server)
            task_id = accepted.json()["id"]

            relay.down()  # now it goes away while connections are open
            assert answer(server, "GET", f"/tasks/{task_id}").status_code == 503
            relay.up()
            until_accepted(server)
            assert answer(server, "GET", f"/tasks/{task_id}").status_code == 200
            assert "Traceback" not in server.log()
