"""The example `export` task's files: found by task id, gone once no record needs them."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from quart_app.jobs import MAX_EXPORT_ROWS, PARTIAL, export_paths, sweep_exports
from tasks import SQLiteStore, State, TaskRecord
from tasks.app.retention import sweep
from tests.conftest import AppFactory, ServeFactory
from tests.harness import WAIT
from tests.quart_command import quart_command

OWNER = "elsewhere:1:a"


async def files(folder: Path) -> list[str]:
    def names() -> list[str]:
        return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []

    return await asyncio.to_thread(names)


async def first_file(folder: Path, suffix: str) -> Path:
    """Wait for a file of another process to appear (no event to wait on: poll, bounded)."""
    async with asyncio.timeout(WAIT):
        while not (found := [name for name in await files(folder) if name.endswith(suffix)]):
            await asyncio.sleep(0.02)
    return folder / found[0]


async def gone(path: Path) -> None:
    async with asyncio.timeout(WAIT):
        while await asyncio.to_thread(path.exists):
            await asyncio.sleep(0.05)


async def test_an_export_killed_mid_write_leaves_no_file(
    serve: ServeFactory, tmp_path: Path
) -> None:
    """``kill -9`` during an export: a server that runs on, never restarted, recovers the
    task (``interrupted``, no result) and its sweep removes the partial file."""
    async with serve(TASKS_POLL_INTERVAL=0.1, TASKS_RETENTION=40) as api:  # a sweep every 4 s
        exports = Path(api.app.config["EXPORTS_FOLDER"])
        env = {
            "QUART_TASKS_DATABASE": api.app.config["TASKS_DATABASE"],
            "QUART_EXPORTS_FOLDER": str(exports),
        }
        run = ("tasks", "run", "export", f"rows={MAX_EXPORT_ROWS}", "--wait")
        with quart_command(*run, env=env, stdout=subprocess.DEVNULL) as process:
            partial = await first_file(exports, PARTIAL)
            assert process.poll() is None, "the export ended before it could be killed"
            process.kill()
            await asyncio.to_thread(process.wait, WAIT)
        task_id = partial.name.removesuffix(PARTIAL)
        record = await api.finished(task_id)
        assert (record["state"], record["error"]["type"]) == ("failed", "interrupted")
        assert record["result"] is None
        await gone(partial)
        assert await api.runner.store.get(task_id) is not None  # swept, not pruned with it
        assert await files(exports) == []


async def test_a_finished_exports_file_stays_until_its_record_goes(serve: ServeFactory) -> None:
    async with serve(TASKS_RETENTION=0.5, TASKS_POLL_INTERVAL=0.1) as api:
        done = await api.finished((await api.submit("export", {"rows": 10}))["id"])
        path = Path(done["result"]["path"])
        assert path.name == f"{done['id']}.csv"
        async with api.app.app_context():
            await sweep(api.app.extensions["tasks"].registry, api.runner.store.get)
        assert await files(path.parent) == [path.name]  # a sweep keeps a succeeded export's
        later = await api.submit("noop")  # the latest write is kept; this one instead
        await api.finished(later["id"])
        await gone(path)
        assert await api.runner.store.get(done["id"]) is None


async def test_the_sweep_keeps_only_what_records_need(make_app: AppFactory, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "tasks.sqlite3")
    await store.open()
    try:
        running = TaskRecord.new("export", {"rows": 10})
        await store.create(running, owner=OWNER, lease=30)
        await store.update(running.started(), owner=OWNER)
        ended = {}
        for state in (State.SUCCEEDED, State.FAILED, State.CANCELLED):
            record = TaskRecord.new("export", {"rows": 10})
            await store.create(record, owner=OWNER, lease=30)
            ended[state] = record.started().finished(state)
            await store.update(ended[state], owner=OWNER)
        app = make_app()
        async with app.app_context():
            folder = export_paths("x")[0].parent
            folder.mkdir()
            kept = [export_paths(running.id)[1], export_paths(ended[State.SUCCEEDED].id)[0]]
            swept = [
                export_paths(ended[State.SUCCEEDED].id)[1],
                *export_paths(ended[State.FAILED].id),  # interrupted: no result names them
                *export_paths(ended[State.CANCELLED].id),
                *export_paths("0" * 32),  # no record: deleted elsewhere, or another store's
            ]
            for path in [*kept, *swept, folder / "notes.txt"]:
                path.write_text("x")
            await sweep_exports(store.get)
        assert await files(folder) == sorted(path.name for path in [*kept, folder / "notes.txt"])
    finally:
        await store.close()
