"""The ``tasks`` command group with ``--url``: every command through a real server's HTTP API."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import Result

from tests import loopback
from tests.conftest import AppFactory
from tests.harness import EXAMPLE_TASKS
from tests.quart_command import quart_command, read_until
from tests.servers import Server, running_server

pytestmark = pytest.mark.server

Invoke = Callable[..., Result]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("server")) as served:
        yield served


@pytest.fixture
def cli(make_app: AppFactory, server: Server, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """``quart tasks ARGS --url SERVER``; the command's own app has an empty memory store."""
    monkeypatch.delenv("QUART_TASKS_URL", raising=False)

    def invoke(*args: str, url: str | None = server.url) -> Result:
        app = make_app(TASKS_DATABASE=":memory:")
        extra = ["--url", url] if url else []
        return app.test_cli_runner().invoke(args=["tasks", *args, *extra])

    return invoke


def on_server(server: Server, task_id: str) -> dict[str, Any]:
    record: dict[str, Any] = loopback.get(f"{server.url}/tasks/{task_id}", timeout=5).json()
    return record


def started_id(result: Result) -> str:
    found = re.search(r"started \w+: ([0-9a-f]{32})", result.stderr)
    assert found, result.stderr
    return found.group(1)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_run_wait_runs_on_the_server_and_prints_the_result(cli: Invoke, server: Server) -> None:
    result = cli("run", "count", "n=3", "interval=0.01", "--wait")

    assert result.exit_code == 0, result.output
    assert result.stdout == "3\n"
    assert result.stderr.splitlines()[-1].endswith("count succeeded")
    assert on_server(server, started_id(result))["state"] == "succeeded"


def test_run_wait_json(cli: Invoke) -> None:
    result = cli("run", "count", "n=2", "interval=0", "--wait", "--json")

    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert (record["state"], record["result"]) == ("succeeded", 2)


def test_run_wait_of_a_failing_task_exits_1(cli: Invoke) -> None:
    result = cli("run", "fail", "message=over http", "--wait")

    assert result.exit_code == 1
    assert "failed: RuntimeError: over http" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.output


def test_run_of_an_unknown_task_exits_2(cli: Invoke) -> None:
    assert_one_line_error(cli("run", "nosuch"), "no task is named 'nosuch'", "registered tasks")


def test_run_with_bad_arguments_exits_2(cli: Invoke) -> None:
    assert_one_line_error(cli("run", "count", "n=lots"), "argument 'n'", "`tasks names`")
    assert_one_line_error(cli("run", "count", "n=1", "--timeout", "0.0001", "--retries", "200"))


def test_run_without_wait_returns_the_id_and_watch_follows_it(cli: Invoke, server: Server) -> None:
    started = cli("run", "sleep", "seconds=0.6")
    assert started.exit_code == 0
    task_id = started.stdout.strip()
    assert f"runs on {server.url}" in started.stderr

    watched = cli("watch", task_id)

    assert watched.exit_code == 0, watched.output
    assert watched.stdout == "0.6\n"
    lines = watched.stderr.splitlines()
    assert all(line.startswith(task_id[:8]) for line in lines)
    assert lines[-1].endswith("sleep succeeded")


def test_status_and_an_unknown_id(cli: Invoke) -> None:
    task_id = json.loads(cli("run", "count", "n=0", "--json").stdout)["id"]

    status = cli("status", task_id)
    assert status.exit_code == 0
    assert status.stdout.splitlines()[0].split() == ["id", task_id]

    assert_one_line_error(cli("status", "0" * 32), "no task has the id", "`tasks list`")


def test_list_filters_on_the_server(cli: Invoke) -> None:
    first = json.loads(cli("run", "noop", "--wait", "--json").stdout)["id"]
    second = json.loads(cli("run", "noop", "--wait", "--json").stdout)["id"]

    listed = cli("list", "--name", "noop", "--state", "succeeded", "--limit", "2", "--json")
    assert listed.exit_code == 0
    assert [task["id"] for task in json.loads(listed.stdout)["tasks"]] == [second, first]

    table = cli("list", "--name", "noop")
    assert [row.split()[0] for row in table.stdout.splitlines()[1:]] == [second, first]


def test_cancel_a_running_task_then_once_more(cli: Invoke, server: Server) -> None:
    task_id = cli("run", "sleep", "seconds=30").stdout.strip()

    cancelled = cli("cancel", task_id)
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout == f"cancelled sleep: {task_id}\n"
    assert on_server(server, task_id)["state"] == "cancelled"

    assert_one_line_error(cli("cancel", task_id, "--json"), "has already cancelled")


def test_names_come_from_the_server(cli: Invoke) -> None:
    described = json.loads(cli("names", "--json").stdout)["names"]
    assert [task["name"] for task in described] == EXAMPLE_TASKS

    shown = cli("names")
    assert shown.exit_code == 0
    assert "sleep(seconds: float)" in shown.stdout


def test_the_url_can_come_from_the_environment(
    cli: Invoke, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUART_TASKS_URL", server.url)

    result = cli("names", url=None)

    assert result.exit_code == 0, result.output
    assert "count(" in result.stdout


def test_a_url_that_is_not_the_api_says_to_check_it(cli: Invoke, server: Server) -> None:
    result = cli("list", url=f"{server.url}/elsewhere")

    assert_one_line_error(result, "no such endpoint", "check that --url")


def test_ctrl_c_stops_watching_and_the_task_goes_on(server: Server) -> None:
    with quart_command(
        *("tasks", "run", "count", "n=100", "interval=0.02", "--wait", "--url", server.url),
        env={"QUART_TASKS_DATABASE": ":memory:"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as command:
        assert command.stderr is not None
        lines = read_until(command.stderr, "running")
        task_id = lines[0].removeprefix("started count: ").strip()

        command.send_signal(signal.SIGINT)
        _, rest = command.communicate(timeout=20)

    assert command.returncode == 130
    assert rest.splitlines()[-1] == (
        f"interrupted: stopped watching; task {task_id} goes on on the server at {server.url}"
    )
    assert on_server(server, task_id)["state"] in {"running", "succeeded"}


def test_a_task_stored_without_a_server_url_is_run_by_the_server_sharing_the_store(
    make_app: AppFactory, server: Server
) -> None:
    database = server.env["QUART_TASKS_DATABASE"]
    app = make_app(TASKS_DATABASE=database)
    result = app.test_cli_runner().invoke(args=["tasks", "run", "count", "n=2", "interval=0"])
    assert result.exit_code == 0, result.output
    task_id = result.stdout.strip()

    app = make_app(TASKS_DATABASE=database)
    watched = app.test_cli_runner().invoke(args=["tasks", "watch", task_id, "--json"])
    assert watched.exit_code == 0, watched.output
    record = json.loads(watched.stdout)
    assert (record["state"], record["result"]) == ("succeeded", 2)
    assert on_server(server, task_id)["state"] == "succeeded"
