"""``tasks run --in/--at/--key`` and ``tasks schedules``, in-process and with ``--url``."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from quart import Quart

from tasks import Registry, SQLiteStore, State, TaskRecord
from tasks.cli import tasks_cli
from tasks.cli.moments import parse_duration
from tests.conftest import Invoke
from tests.harness import app_with_registry

TASK_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(autouse=True)
def no_server_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUART_TASKS_URL", raising=False)


def stored(path: Path, task_id: str) -> TaskRecord:
    async def read() -> TaskRecord | None:
        store = SQLiteStore(path)
        await store.open()
        try:
            return await store.get(task_id)
        finally:
            await store.close()

    record = asyncio.run(read())
    assert record is not None
    return record


def printed_id(result: Result) -> str:
    assert result.exit_code == 0, result.output
    task_id = result.stdout.strip()
    assert TASK_ID.fullmatch(task_id), result.stdout
    return task_id


def error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    return line


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172_800), ("90", 90), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_run_in_stores_the_task_scheduled_for_a_server(cli: Invoke, tmp_path: Path) -> None:
    result = cli("run", "count", "n=1", "--in", "30s")
    task_id = printed_id(result)
    assert "is scheduled for" in result.stderr
    record = stored(tmp_path / "tasks.sqlite3", task_id)
    assert record.state is State.SCHEDULED
    assert record.owner is None
    assert record.run_at == record.created_at + timedelta(seconds=30)
    listed = cli("list", "--state", "scheduled", "--json")
    assert [task["id"] for task in json.loads(listed.stdout)["tasks"]] == [task_id]
    status = cli("status", task_id)
    assert "run at" in status.stdout
    cancelled = cli("cancel", task_id)
    assert cancelled.exit_code == 0, cancelled.output
    assert stored(tmp_path / "tasks.sqlite3", task_id).state is State.CANCELLED


def test_run_at_takes_a_moment_with_its_offset(cli: Invoke, tmp_path: Path) -> None:
    task_id = printed_id(cli("run", "noop", "--at", "2031-06-01T09:00:00+02:00"))
    record = stored(tmp_path / "tasks.sqlite3", task_id)
    assert record.run_at == datetime(2031, 6, 1, 7, 0, tzinfo=UTC)
    past = stored(
        tmp_path / "tasks.sqlite3", printed_id(cli("run", "noop", "--at", "2001-01-01T00:00:00Z"))
    )
    assert past.state is State.QUEUED  # its time has passed: it runs as soon as a server claims it


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--in", "soon"), "is not a duration"),
        (("--in", "-5"), "is negative"),
        (("--at", "2031-06-01T09:00:00"), "has no UTC offset"),
        (("--at", "June"), "is not an ISO 8601 date and time"),
        (("--in", "5s", "--at", "2031-06-01T09:00:00Z"), "not both"),
        (("--in", "5s", "--wait"), "does not go with --in or --at"),
        (("--key", ""), "must not be empty"),
    ],
)
def test_bad_later_options_are_one_line_errors(
    cli: Invoke, tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    result = cli("run", "noop", *args)
    assert fragment in error_line(result)
    assert (
        not (tmp_path / "tasks.sqlite3").exists() or cli("list", "--json").stdout.count('"id"') == 0
    )


def test_run_with_a_key_twice_gives_the_first_task(cli: Invoke) -> None:
    first = printed_id(cli("run", "count", "n=2", "--key", "nightly-2031-06-01"))
    again = cli("run", "count", "n=2", "--key", "nightly-2031-06-01")
    assert printed_id(again) == first
    assert "already had the key" in again.stderr
    conflict = cli("run", "count", "n=3", "--key", "nightly-2031-06-01")
    assert "other arguments" in error_line(conflict)
    waited = cli("run", "count", "n=2", "interval=0", "--key", "run-here", "--wait")
    assert waited.exit_code == 0, waited.output
    assert waited.stdout == "2\n"
    ended = cli("run", "count", "n=2", "interval=0", "--key", "run-here")
    assert "count has already ended: succeeded" in ended.stderr  # not "queued in the store"


# -- schedules ------------------------------------------------------------------------------

periodic = Registry()


@periodic.task(cron="0 3 * * *", timezone="Europe/Paris")
async def nightly() -> None:
    return None


def periodic_app(tmp_path: Path) -> Quart:
    app = app_with_registry(periodic, TASKS_DATABASE=str(tmp_path / "periodic.sqlite3"))
    app.cli.add_command(tasks_cli)
    return app


def test_schedules_lists_the_periodic_tasks(tmp_path: Path) -> None:
    result = periodic_app(tmp_path).test_cli_runner().invoke(args=["tasks", "schedules"])
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split() == ["NAME", "WHEN", "LAST", "RUN", "STATE", "NEXT", "RUN"]
    assert row.split("  ")[:2] == ["nightly", "cron 0 3 * * * (Europe/Paris)"]
    assert row.split()[-3:-1] == ["-", "-"]  # no run yet
    as_json = periodic_app(tmp_path).test_cli_runner().invoke(args=["tasks", "schedules", "--json"])
    (item,) = json.loads(as_json.stdout)["schedules"]
    assert (item["name"], item["cron"], item["last_run"]) == ("nightly", "0 3 * * *", None)


def test_schedules_of_an_app_without_periodic_tasks(cli: Invoke) -> None:
    result = cli("schedules")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no periodic tasks" in result.stderr
