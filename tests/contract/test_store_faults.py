"""A SQLite store that stops taking writes mid-run (made read-only, or corrupted) loses no
task: requests answer 503 at once, health says the store fails, every write the store
refused lands once it is back, and every accepted task ends once, without a restart."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tasks import Registry, SQLiteStore, State
from tests.conftest import RegistryAppFactory
from tests.harness import WAIT, Served, serving


class Gate:
    """Tasks that wait for the test: coroutine tasks on ``opened``, thread tasks too."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.runs: dict[int, int] = {}

    def ran(self, n: int) -> int:
        self.runs[n] = self.runs.get(n, 0) + 1
        return n


def gated_registry(gate: Gate) -> Registry:
    registry = Registry()

    @registry.task()
    async def hold(n: int) -> int:
        await gate.opened.wait()
        return gate.ran(n)

    @registry.task()
    def work(n: int) -> int:
        return gate.ran(n)

    return registry


async def set_read_only(store: SQLiteStore, read_only: bool) -> None:
    """Make both of the store's connections refuse writes, as a read-only file would."""
    pragma = f"PRAGMA query_only = {int(read_only)}"
    loop_conn = store._writer._conn  # the event loop's own connection
    assert loop_conn is not None
    loop_conn.execute(pragma)
    await store._connection.run(lambda conn: conn.execute(pragma).fetchall())


@asynccontextmanager
async def gated_app(
    make_registry_app: RegistryAppFactory, tmp_path: Path, **config: Any
) -> AsyncIterator[tuple[Served, SQLiteStore, Gate]]:
    gate = Gate()
    store = SQLiteStore(tmp_path / "faults.sqlite3")
    app = make_registry_app(gated_registry(gate), store=store, TASKS_POLL_INTERVAL=0.1, **config)
    async with serving(app) as api:
        yield api, store, gate
        gate.opened.set()


async def post(api: Served, name: str, n: int) -> Any:
    async with asyncio.timeout(WAIT):  # every answer comes within a bound
        return await api.client.post(f"/tasks/{name}", json={"n": n})


async def health(api: Served) -> tuple[int, dict[str, Any]]:
    response = await api.client.get("/healthz")
    return response.status_code, await response.get_json()


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds: the store's recovery is seen only from outside."""
    async with asyncio.timeout(WAIT):
        while not await check():
            await asyncio.sleep(0.02)


async def test_writes_refused_while_read_only_land_afterwards(
    make_registry_app: RegistryAppFactory, tmp_path: Path
) -> None:
    async with gated_app(make_registry_app, tmp_path, TASKS_MAX_RUNNING=3) as (api, store, gate):
        holds = [await api.submit("hold", {"n": n}) for n in range(3)]  # run, waiting on gate
        works = [await api.submit("work", {"n": n}) for n in range(10, 13)]  # wait for a slot
        for task in holds:
            await api.until(task["id"], lambda record: record.state is State.RUNNING)

        await set_read_only(store, True)
        refused = await post(api, "hold", 99)
        assert refused.status_code == 503
        assert (await refused.get_json())["error"]["code"] == "store_unavailable"
        assert refused.headers["Retry-After"]
        status, body = await health(api)
        assert (status, body["status"], body["store"]["status"]) == (
            503,
            "store_failing",
            "failing",
        )
        assert "readonly" in body["store"]["error"]

        gate.opened.set()  # the holds end, the works start: none of it can be written yet
        async with asyncio.timeout(WAIT):
            while len(gate.runs) < 3 or len(api.runner._writer.unsettled) < 3:
                await asyncio.sleep(0.02)
        assert api.runner._writer.unsettled >= {task["id"] for task in holds}

        await set_read_only(store, False)
        ended = [await api.finished(task["id"]) for task in holds + works]
        assert [(record["state"], record["attempts"]) for record in ended] == [("succeeded", 1)] * 6
        assert [record["result"] for record in ended] == [0, 1, 2, 10, 11, 12]
        assert gate.runs == dict.fromkeys([0, 1, 2, 10, 11, 12], 1)  # each ran once
        await until(lambda: _healthy(api))
        after = await api.submit("work", {"n": 20})
        assert (await api.finished(after["id"]))["state"] == "succeeded"


async def test_a_corrupted_file_answers_503_and_health_says_so(
    make_registry_app: RegistryAppFactory, tmp_path: Path
) -> None:
    async with gated_app(make_registry_app, tmp_path) as (api, store, _):
        first = await api.submit("work", {"n": 1})
        await api.finished(first["id"])
        await store._connection.run(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
        _corrupt(store.path)
        for name in ("work", "hold"):
            response = await post(api, name, 2)
            assert response.status_code == 503, await response.get_data()
            assert "malformed" in (await response.get_json())["error"]["message"]
        listed = await api.client.get("/tasks")  # pages still cached may serve a read
        assert listed.status_code in {200, 503}
        await until(lambda: _failing(api))


def _corrupt(path: Path) -> None:
    """Overwrite every page after the first with garbage, as a broken disk would."""
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(page_size)
        file.write(b"\x5a" * (size - page_size))


async def _healthy(api: Served) -> bool:
    status, body = await health(api)
    return status == 200 and body["store"] == {"status": "ok"}


async def _failing(api: Served) -> bool:
    status, body = await health(api)
    return status == 503 and body["status"] == "store_failing"
