"""The ``tasks`` command group in-process: on the app's own SQLite store, no server."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import Result
from quart import Quart

from tasks import MemoryStore, Registry, SQLiteStore, State, TaskRecord
from tasks.cli import parse_arguments, tasks_cli
from tasks.cli.local import LocalBackend
from tests.conftest import Invoke
from tests.harness import EXAMPLE_TASKS, app_with_registry

TASK_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(autouse=True)
def no_server_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUART_TASKS_URL", raising=False)


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


#: a live server process on another host, as far as the store can tell
ELSEWHERE = "another-host:1:server"


def store_records(path: Path, *records: TaskRecord) -> None:
    """Write records straight into the SQLite store, held by another process."""

    async def write() -> None:
        store = SQLiteStore(path)
        await store.open()
        try:
            for record in records:
                await store.create(record, owner=ELSEWHERE, lease=600)
        finally:
            await store.close()

    asyncio.run(write())


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


# -- run ---------------------------------------------------------------------------------


def test_run_wait_prints_the_result_and_exits_0(cli: Invoke) -> None:
    result = cli("run", "count", "n=3", "interval=0", "--wait")

    assert result.exit_code == 0, result.output
    assert result.stdout == "3\n"
    assert "\r" not in result.stderr  # not a terminal: plain lines, no bar
    lines = result.stderr.splitlines()
    assert re.fullmatch(r"started count: [0-9a-f]{32}", lines[0])
    assert lines[-1].endswith("count succeeded")


def test_run_wait_of_a_failing_task_prints_the_error_and_exits_1(cli: Invoke) -> None:
    result = cli("run", "fail", "message=broken on purpose", "--wait")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "failed: RuntimeError: broken on purpose" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.output


def test_run_wait_reports_a_timeout(cli: Invoke) -> None:
    result = cli("run", "sleep", "seconds=5", "--timeout", "0.05", "--wait")

    assert result.exit_code == 1
    assert "failed: timeout: the attempt took longer than its 0.05 s timeout" in result.stderr


def test_run_wait_json_prints_only_the_final_record(cli: Invoke) -> None:
    result = cli("run", "count", "n=2", "interval=0", "--wait", "--json")

    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["state"] == "succeeded"
    assert record["result"] == 2
    assert record["progress"] == {"current": 2, "total": 2, "message": None}
    assert result.stderr == ""  # no notes and no progress lines into a pipe


def test_run_without_wait_stores_the_task_queued_and_prints_its_id(cli: Invoke) -> None:
    result = cli("run", "count", "n=5", "interval=0.5")

    assert result.exit_code == 0, result.output
    task_id = result.stdout.strip()
    assert TASK_ID.match(task_id)
    assert "a server sharing it runs it" in result.stderr

    status = cli("status", task_id, "--json")
    record = json.loads(status.stdout)
    assert record["state"] == "queued"
    assert record["kwargs"] == {"n": 5, "interval": 0.5}
    assert record["attempts"] == 0  # stored only: nothing ran it in the command's process


def test_run_without_wait_json_prints_the_record(cli: Invoke) -> None:
    result = cli("run", "fail", "message=hi", "--json")

    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["state"] == "queued"
    assert record["kwargs"] == {"message": "hi"}


def test_run_of_an_unknown_task_exits_2_naming_the_known_ones(cli: Invoke) -> None:
    result = cli("run", "nosuch")

    assert_one_line_error(result, "no task is named 'nosuch'", "registered tasks: count")
    assert result.stdout == ""


def test_run_with_arguments_that_do_not_fit_exits_2(cli: Invoke) -> None:
    result = cli("run", "count", "n=lots")

    assert_one_line_error(result, "argument 'n'", "`tasks names` shows each task's parameters")


def test_run_with_an_unexpected_argument_exits_2(cli: Invoke) -> None:
    result = cli("run", "count", "n=1", "colour=red", "--wait")

    assert_one_line_error(result, "unexpected argument 'colour'")


def test_run_with_a_malformed_pair_is_a_usage_error(cli: Invoke) -> None:
    result = cli("run", "count", "n")

    assert result.exit_code == 2
    assert "'n' is not KEY=VALUE" in result.stderr
    assert "Traceback" not in result.output


def test_errors_with_json_are_also_json_on_stdout(cli: Invoke) -> None:
    result = cli("run", "nosuch", "--json")

    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "unknown_task"
    assert "nosuch" in error["message"]


def test_a_memory_store_refuses_to_store_a_task_that_would_vanish(cli: Invoke) -> None:
    refused = cli("run", "noop", TASKS_DATABASE=":memory:")
    assert_one_line_error(refused, "':memory:'", "add --wait")

    ran = cli("run", "noop", "--wait", TASKS_DATABASE=":memory:")
    assert ran.exit_code == 0
    assert ran.stdout == "null\n"

    listed = cli("list", TASKS_DATABASE=":memory:")
    assert_one_line_error(listed, "':memory:'", "--url")


class ScratchStore:
    """A store class of its own whose records only this process sees, as a new in-memory
    store would be: it says so (``process_local``) and is no ``MemoryStore``."""

    process_local = True

    def __init__(self) -> None:
        self._records = MemoryStore()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)


def test_any_store_that_only_this_process_sees_is_refused_like_memory() -> None:
    registry = Registry()

    @registry.task
    async def noop() -> None:
        return None

    app = app_with_registry(registry, store=ScratchStore())
    app.cli.add_command(tasks_cli)

    def cli(*args: str) -> Result:
        return app.test_cli_runner().invoke(args=["tasks", *args])

    assert_one_line_error(cli("list"), "':memory:'", "--url")
    assert_one_line_error(cli("run", "noop"), "':memory:'", "add --wait")


def test_an_app_that_cannot_start_gives_one_line(cli: Invoke, tmp_path: Path) -> None:
    result = cli("run", "noop", "--wait", TASKS_DATABASE=str(tmp_path))  # a folder, not a file

    assert_one_line_error(result, "the app could not start", "TASKS_DATABASE")


def test_a_store_that_cannot_open_gives_one_line(cli: Invoke, tmp_path: Path) -> None:
    result = cli("list", TASKS_DATABASE=str(tmp_path))

    assert_one_line_error(result, "cannot open the task store", "unable to open database file")


def test_task_failures_stay_out_of_the_log_unless_verbose(
    cli: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tasks")
    cli("run", "fail", "--wait")
    assert not [record for record in caplog.records if record.name == "tasks"]

    cli("run", "fail", "--wait", "--verbose")
    failures = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert failures
    assert failures[0].exc_info is not None
    assert logging.getLogger("tasks").level == logging.INFO  # restored afterwards


# -- watch, status, list, cancel, names --------------------------------------------------


def test_watch_a_finished_task(cli: Invoke) -> None:
    succeeded = json.loads(cli("run", "count", "n=1", "interval=0", "--wait", "--json").stdout)
    failed = json.loads(cli("run", "fail", "--wait", "--json").stdout)

    watched = cli("watch", succeeded["id"])
    assert watched.exit_code == 0
    assert watched.stdout == "1\n"

    watched = cli("watch", failed["id"], "--json")
    assert watched.exit_code == 1
    assert json.loads(watched.stdout)["error"]["type"] == "RuntimeError"


def test_watch_follows_a_task_that_another_process_runs(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = TaskRecord.new("count", {"n": 2, "interval": 0})
    store_records(tmp_path / "tasks.sqlite3", record)
    seen = {state: threading.Event() for state in State}
    read = LocalBackend.get

    async def get_and_tell(backend: LocalBackend, task_id: str) -> TaskRecord:
        found = await read(backend, task_id)
        seen[found.state].set()
        return found

    monkeypatch.setattr(LocalBackend, "get", get_and_tell)

    async def run_it_elsewhere() -> None:
        # Stands in for a server sharing the store; each step waits until watch has seen the last.
        store = SQLiteStore(tmp_path / "tasks.sqlite3")
        await store.open()
        try:
            await asyncio.to_thread(seen[State.QUEUED].wait, 10)
            running = record.started()
            await store.update(running, owner=ELSEWHERE)
            await asyncio.to_thread(seen[State.RUNNING].wait, 10)
            await store.update(running.finished(State.SUCCEEDED, result=2), owner=ELSEWHERE)
        finally:
            await store.close()

    worker = threading.Thread(target=asyncio.run, args=(run_it_elsewhere(),))
    worker.start()
    try:
        result = cli("watch", record.id)
    finally:
        worker.join(10)

    assert result.exit_code == 0, result.output
    assert result.stdout == "2\n"
    states = [line.split()[2] for line in result.stderr.splitlines()]
    assert states == ["queued", "running", "succeeded"]


def test_status_shows_every_field(cli: Invoke) -> None:
    record = json.loads(cli("run", "fail", "message=nope", "--wait", "--json").stdout)

    result = cli("status", record["id"])

    assert result.exit_code == 0  # a query: done, whatever the task's state
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert fields["state"] == "failed"
    assert fields["error"] == "RuntimeError: nope"
    assert fields["arguments"] == '{"message": "nope"}'
    assert fields["attempts"] == "1 of 1"


def test_status_shows_a_workflow_s_steps_and_children(cli: Invoke) -> None:
    record = json.loads(cli("run", "fulfil", "order_id=3", "--wait", "--json").stdout)
    assert record["state"] == "succeeded"

    lines = cli("status", record["id"]).stdout.splitlines()

    fields = dict(line.split(None, 1) for line in lines if not line.startswith((" ", "steps")))
    assert fields["children"].startswith("2: ")
    assert fields["children"].split()[1:] == record["children"]
    steps = lines[lines.index("steps") + 1 :]
    assert [step.split()[:2] for step in steps] == [
        ["charge", "succeeded"],
        ["invoice", "succeeded"],
        ["notify", "succeeded"],
    ]
    assert steps[1].endswith("INV-000003")
    child = cli("status", record["children"][0]).stdout
    assert f"parent     {record['id']}" in child


def test_run_takes_a_priority(cli: Invoke) -> None:
    record = json.loads(cli("run", "noop", "--priority", "-5", "--json").stdout)
    assert record["priority"] == -5
    refused = cli("run", "noop", "--priority", "1001")
    assert refused.exit_code == 2
    assert "--priority" in refused.output


def test_status_of_an_unknown_id_exits_2(cli: Invoke) -> None:
    assert_one_line_error(cli("status", "nope"), "no task has the id 'nope'", "`tasks list`")


def test_list_filters_by_state_and_name_newest_first(cli: Invoke) -> None:
    first = cli("run", "count", "n=1").stdout.strip()
    cli("run", "fail", "--wait")
    last = cli("run", "count", "n=2").stdout.strip()

    result = cli("list", "--state", "queued", "--name", "count")
    assert result.exit_code == 0
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["ID", "NAME", "STATE", "PROGRESS", "CREATED"]
    assert [row.split()[0] for row in rows[1:]] == [last, first]

    limited = json.loads(cli("list", "--limit", "1", "--json").stdout)
    assert [task["id"] for task in limited["tasks"]] == [last]

    failed = json.loads(cli("list", "--state", "failed", "--json").stdout)
    assert [task["name"] for task in failed["tasks"]] == ["fail"]


def test_list_of_an_empty_store_and_a_bad_state(cli: Invoke) -> None:
    empty = cli("list")
    assert empty.exit_code == 0
    assert empty.stdout == ""
    assert empty.stderr == "no tasks\n"

    bad = cli("list", "--state", "done")
    assert bad.exit_code == 2
    assert "'done' is not one of 'scheduled', 'queued', 'running'" in bad.stderr


def test_cancel_a_queued_task_then_once_more(cli: Invoke) -> None:
    task_id = cli("run", "sleep", "seconds=10").stdout.strip()

    result = cli("cancel", task_id)
    assert result.exit_code == 0
    assert result.stdout == f"cancelled sleep: {task_id}\n"
    assert json.loads(cli("status", task_id, "--json").stdout)["state"] == "cancelled"

    again = cli("cancel", task_id)
    assert_one_line_error(again, "has already cancelled")


def test_cancel_json_prints_the_record(cli: Invoke) -> None:
    task_id = cli("run", "noop").stdout.strip()

    result = cli("cancel", task_id, "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["state"] == "cancelled"


def test_cancel_of_a_task_running_elsewhere_asks_its_server(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tasks.cli.local.CANCEL_WAIT", 0.2)  # no server here will act on it
    running = TaskRecord.new("sleep", {"seconds": 60}).started()
    store_records(tmp_path / "tasks.sqlite3", running)

    result = cli("cancel", running.id)

    assert result.exit_code == 0, result.output
    assert "asked sleep" in result.stdout
    assert "still running" in result.stdout
    status = json.loads(cli("status", running.id, "--json").stdout)
    assert (status["state"], status["cancel_requested"]) == ("running", True)


def test_names_lists_the_tasks_with_their_parameters(cli: Invoke) -> None:
    result = cli("names")

    assert result.exit_code == 0
    lines = {line.split("(", 1)[0]: line for line in result.stdout.splitlines()}
    assert sorted(lines) == EXAMPLE_TASKS
    assert lines["count"].startswith("count(n: int, interval: float = 0.1)  Count to")

    described = json.loads(cli("names", "--json").stdout)["names"]
    count = next(task for task in described if task["name"] == "count")
    assert count["parameters"][0] == {"name": "n", "type": "int", "required": True, "default": None}
    assert count["runs_in"] == "event_loop"


# -- where the commands act --------------------------------------------------------------


def test_the_server_url_comes_from_the_environment(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch, unused_port: int
) -> None:
    monkeypatch.setenv("QUART_TASKS_URL", f"http://127.0.0.1:{unused_port}")

    result = cli("list")  # the app accepts the variable as its TASKS_URL setting too

    assert_one_line_error(
        result, f"cannot reach the tasks server at http://127.0.0.1:{unused_port}"
    )


def test_the_server_url_comes_from_the_app_config(cli: Invoke, unused_port: int) -> None:
    result = cli("names", TASKS_URL=f"http://127.0.0.1:{unused_port}")

    assert_one_line_error(result, "cannot reach the tasks server", "fix --url")


def test_a_malformed_url_is_a_usage_error(cli: Invoke) -> None:
    result = cli("list", "--url", "localhost8000")

    assert result.exit_code == 2
    assert "is not a server address; use http://host:port" in result.stderr


def test_an_app_without_the_extension_says_so() -> None:
    app = Quart(__name__)
    app.cli.add_command(tasks_cli)

    result = app.test_cli_runner().invoke(args=["tasks", "names"])

    assert_one_line_error(result, "does not use the tasks extension", "Tasks(app")


# -- KEY=VALUE -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pair", "value"),
    [
        ("n=5", 5),
        ("x=0.25", 0.25),
        ("msg=hi", "hi"),
        ("flag=true", True),
        ("nothing=null", None),
        ('quoted="5"', "5"),
        ('tags=["a","b"]', ["a", "b"]),
        ('opts={"deep":{"k":1}}', {"deep": {"k": 1}}),
        ("equation=a=b", "a=b"),
        ("empty=", ""),
        ("nan=NaN", "NaN"),
        ("spaced=hello world", "hello world"),
    ],
)
def test_values_are_json_where_they_parse_else_text(pair: str, value: Any) -> None:
    key = pair.split("=", 1)[0]
    assert parse_arguments((pair,)) == {key: value}


@pytest.mark.parametrize(
    ("pairs", "problem"),
    [(("n",), "is not KEY=VALUE"), (("=5",), "is not KEY=VALUE"), (("n=1", "n=2"), "twice")],
)
def test_malformed_pairs_are_refused(pairs: tuple[str, ...], problem: str) -> None:
    with pytest.raises(click.BadParameter, match=problem):
        parse_arguments(pairs)


def test_run_wait_runs_only_its_own_task(cli: Invoke, tmp_path: Path) -> None:
    stored = cli("run", "noop").stdout.strip()  # stored for a server, held by nobody

    result = cli("run", "count", "n=1", "interval=0", "--wait")

    assert result.exit_code == 0, result.output
    status = json.loads(cli("status", stored, "--json").stdout)
    assert (status["state"], status["owner"]) == ("queued", None)
