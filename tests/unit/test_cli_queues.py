"""``tasks queues``, ``tasks pause`` and ``tasks resume`` in-process on the store, and the
client calls they make with ``--url`` (a real server: tests/server/test_queues_server.py)."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import Result

from tasks import UnknownQueue
from tasks.client import TasksClient
from tests.conftest import Invoke

QUEUE = {"name": "default", "paused": True, "waiting": 2, "running": 0, "tasks": ["noop"]}


@pytest.fixture(autouse=True)
def no_server_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUART_TASKS_URL", raising=False)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def listed(cli: Invoke) -> dict[str, dict[str, object]]:
    queues = json.loads(ok(cli("queues", "--json")).stdout)["queues"]
    return {queue["name"]: queue for queue in queues}


def test_pause_and_resume_through_the_store(cli: Invoke) -> None:
    table = ok(cli("queues")).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATE", "WAITING", "RUNNING", "TASKS"]
    assert table[1].split()[:4] == ["default", "running", "0", "0"]
    assert table[2].split() == ["email", "running", "0", "0", "send_email"]

    ok(cli("run", "noop"))  # stored queued for a server
    paused = ok(cli("pause", "default"))
    assert paused.stdout == "paused default: 1 waiting, 0 running\n"
    ok(cli("run", "noop"))
    queues = listed(cli)
    assert (queues["default"]["paused"], queues["default"]["waiting"]) == (True, 2)
    assert queues["email"]["paused"] is False
    assert ok(cli("queues")).stdout.splitlines()[1].split()[:4] == ["default", "paused", "2", "0"]

    resumed = json.loads(ok(cli("resume", "default", "--json")).stdout)
    assert (resumed["name"], resumed["paused"], resumed["waiting"]) == ("default", False, 2)
    assert listed(cli)["default"]["paused"] is False


def test_run_wait_refuses_a_task_of_a_paused_queue(cli: Invoke) -> None:
    ok(cli("pause", "default", "--json"))
    refused = cli("run", "noop", "--wait")
    assert refused.exit_code == 2
    assert "queue 'default' is paused" in refused.stderr
    assert "tasks resume default" in refused.stderr
    ok(cli("resume", "default"))
    assert ok(cli("run", "noop", "--wait")).stdout == "null\n"


@pytest.mark.parametrize("command", ["pause", "resume"])
def test_an_unknown_queue_is_a_one_line_error(cli: Invoke, command: str) -> None:
    result = cli(command, "nope")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.strip() == (
        "Error: no task waits in a queue named 'nope'; its queues: default, email"
    )


def test_a_memory_store_sends_the_command_to_a_server(cli: Invoke) -> None:
    result = cli("pause", "default", TASKS_DATABASE=":memory:")
    assert result.exit_code == 2
    assert "--url" in result.stderr


async def test_the_client_calls_the_queue_routes() -> None:
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.raw_path.decode()))
        if request.url.path == "/queues":
            return httpx.Response(200, json={"queues": [QUEUE]})
        if "nope" in request.url.path:
            error = {"code": "unknown_queue", "message": "no task waits in a queue named 'nope'"}
            return httpx.Response(404, json={"error": error})
        return httpx.Response(200, json=QUEUE)

    transport = httpx.MockTransport(handler)
    async with TasksClient("http://tasks.test:8000", transport=transport) as client:
        assert await client.queues() == [QUEUE]
        assert await client.pause("default") == QUEUE
        assert await client.resume("a/b") == QUEUE
        with pytest.raises(UnknownQueue, match="named 'nope'"):
            await client.pause("nope")
    assert seen == [
        ("GET", "/queues"),
        ("POST", "/queues/default/pause"),
        ("POST", "/queues/a%2Fb/resume"),
        ("POST", "/queues/nope/pause"),
    ]
