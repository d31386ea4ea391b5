"""Retention: the app deletes old finished records on its own, `tasks prune` on demand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tasks import State, TaskRecord
from tasks.app.retention import interval
from tasks.records import utcnow
from tests.conftest import AppFactory, Invoke, ServeFactory
from tests.harness import WAIT


async def gone(get: Callable[[str], Awaitable[TaskRecord | None]], task_id: str) -> None:
    """Wait until the store has no record ``task_id`` (the pruner is a periodic process)."""
    async with asyncio.timeout(WAIT):
        while await get(task_id) is not None:
            await asyncio.sleep(0.05)


async def test_old_records_disappear_while_running_ones_stay(serve: ServeFactory) -> None:
    async with serve(TASKS_RETENTION=0.5, TASKS_POLL_INTERVAL=0.1) as api:
        running = await api.submit("sleep", {"seconds": 30})
        done = await api.submit("noop")
        await api.finished(done["id"])
        last = await api.submit("fail")  # written after `done`: the latest write is kept
        await api.finished(last["id"])
        await gone(api.runner.store.get, done["id"])
        record = await api.runner.store.get(running["id"])
        assert record is not None
        assert record.state is State.RUNNING
        await api.client.delete(f"/tasks/{running['id']}")


async def test_zero_keeps_every_record(serve: ServeFactory) -> None:
    async with serve(TASKS_RETENTION=0, TASKS_POLL_INTERVAL=0.1) as api:
        assert "retention" not in api.app.extensions["tasks"].services
        done = await api.submit("noop")
        await api.finished(done["id"])
        assert await api.runner.store.get(done["id"]) is not None


def test_pruning_runs_often_enough_for_the_retention() -> None:
    assert interval(7 * 86_400, 1.0) == 60
    assert interval(10, 1.0) == 1.0
    assert interval(10, 0.1) == 1.0
    assert interval(0.5, 0.1) == 0.1


async def test_an_exports_file_goes_with_its_record(serve: ServeFactory) -> None:
    async with serve(TASKS_RETENTION=0.5, TASKS_POLL_INTERVAL=0.1) as api:
        done = await api.finished((await api.submit("export", {"rows": 10}))["id"])
        path = Path(done["result"]["path"])
        assert await asyncio.to_thread(path.is_file)
        later = await api.submit("noop")  # the latest write is kept; this one instead
        await api.finished(later["id"])
        await gone(api.runner.store.get, done["id"])
        assert not await asyncio.to_thread(path.exists)


async def test_a_cancelled_export_leaves_no_partial_file(
    serve: ServeFactory, tmp_path: Path
) -> None:
    async with serve() as api:
        task = await api.submit("export", {"rows": 1_000_000})
        await api.until(task["id"], lambda record: record.progress is not None)
        await api.client.delete(f"/tasks/{task['id']}")
        record = await api.finished(task["id"])
        assert record["state"] == "cancelled"
        exports = Path(api.app.config["EXPORTS_FOLDER"])
        assert await asyncio.to_thread(lambda: list(exports.iterdir())) == []


def test_export_rows_are_bounded(make_app: AppFactory) -> None:
    definition = make_app().extensions["tasks"].registry.get("export")
    schema = definition.arguments.model_json_schema()
    assert schema["properties"]["rows"]["maximum"] == 1_000_000


# -- tasks prune ---------------------------------------------------------------------------


async def store_finished(tmp_path: Path, states: list[State], *, ago: float) -> list[str]:
    from tasks import SQLiteStore

    store = SQLiteStore(tmp_path / "tasks.sqlite3")
    await store.open()
    ids = []
    for state in states:
        record = TaskRecord.new("noop", {})
        await store.create(record, owner="h:1:x", lease=30)
        ended = record.finished(state).replace(finished_at=utcnow() - timedelta(seconds=ago))
        await store.update(ended, owner="h:1:x")
        ids.append(record.id)
    await store.create(TaskRecord.new("noop", {}), owner=None, lease=30)  # live, and latest
    await store.close()
    return ids


def test_prune_deletes_on_demand_and_prints_how_many(cli: Invoke, tmp_path: Path) -> None:
    asyncio.run(store_finished(tmp_path, [State.SUCCEEDED, State.FAILED, State.FAILED], ago=60))
    result = cli("prune", "--older-than", "30", "--state", "failed")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2"
    assert json.loads(cli("prune", "--older-than", "30", "--json").stdout) == {"deleted": 1}
    assert json.loads(cli("list", "--json").stdout)["tasks"][0]["state"] == "queued"


def test_prune_defaults_to_the_retention(cli: Invoke, tmp_path: Path) -> None:
    asyncio.run(store_finished(tmp_path, [State.SUCCEEDED, State.CANCELLED], ago=60))
    assert cli("prune", TASKS_RETENTION=3600).stdout.strip() == "0"
    assert cli("prune", TASKS_RETENTION=30).stdout.strip() == "2"


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (("prune",), {"TASKS_RETENTION": 0}, "pass --older-than"),
        (("prune", "--state", "running"), {}, "'running' is not one of"),
        (("prune", "--older-than", "-1"), {}, "-1"),
        (("prune", "--url", "http://127.0.0.1:9"), {}, "run it without --url"),
    ],
)
def test_prune_refuses_what_it_cannot_do(
    cli: Invoke, args: tuple[str, ...], config: dict[str, object], message: str
) -> None:
    result = cli(*args, **config)
    assert result.exit_code == 2
    assert message in result.output
