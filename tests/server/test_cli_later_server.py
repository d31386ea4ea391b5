"""``tasks run --in/--key`` and ``tasks schedules`` with ``--url``, through a real server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from click.testing import Result

from tests import loopback
from tests.conftest import AppFactory
from tests.servers import Server, running_server

TASK_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(autouse=True)
def no_server_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUART_TASKS_URL", raising=False)


def printed_id(result: Result) -> str:
    assert result.exit_code == 0, result.output
    task_id = result.stdout.strip()
    assert TASK_ID.fullmatch(task_id), result.stdout
    return task_id


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"QUART_TASKS_POLL_INTERVAL": "0.1"}
    with running_server(tmp_path_factory.mktemp("server"), env) as served:
        yield served


@pytest.mark.server
def test_run_in_and_key_through_a_server(make_app: AppFactory, server: Server) -> None:
    def invoke(*args: str) -> Result:
        app = make_app(TASKS_DATABASE=":memory:")
        return app.test_cli_runner().invoke(args=["tasks", *args, "--url", server.url])

    task_id = printed_id(invoke("run", "noop", "--in", "0.5"))
    on_server = loopback.get(f"{server.url}/tasks/{task_id}", timeout=5).json()
    assert on_server["state"] in {"scheduled", "queued", "running", "succeeded"}
    watched = invoke("watch", task_id)
    assert watched.exit_code == 0, watched.output
    final = loopback.get(f"{server.url}/tasks/{task_id}", timeout=5).json()
    assert final["state"] == "succeeded"
    started = datetime.fromisoformat(final["started_at"])
    assert started - datetime.fromisoformat(final["created_at"]) >= timedelta(seconds=0.5)
    first = printed_id(invoke("run", "noop", "--key", "url-key"))
    again = invoke("run", "noop", "--key", "url-key")
    assert printed_id(again) == first
    assert "already had the key" in again.stderr
    listed = invoke("schedules", "--json")
    assert json.loads(listed.stdout) == {"schedules": []}
