"""The async twin in a Quart app: a view that writes an order and submits its confirmation
in one transaction (``send.options(connection=conn).submit(...)``), on a psycopg connection
or through an async SQLAlchemy session. The order and the task exist together, or neither
does; the app's own runner runs a committed one once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from quart import Quart, abort, request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from tasks import InvalidOptions, Registry, State, TaskRecord
from tasks.testing import Harness, running
from tests.conftest import RegistryAppFactory

registry = Registry()
POLL = 12.0  # seconds between upkeep rounds; each wait below is shorter
confirmed: list[int] = []


@registry.task()
async def send_confirmation(order_id: int) -> str:
    confirmed.append(order_id)
    return f"order {order_id} confirmed"


def order_app(make_registry_app: RegistryAppFactory, url: str) -> Quart:
    # upkeep rounds far apart: the app takes a committed task when it hears of the commit
    app = make_registry_app(registry, TASKS_DATABASE=url, TASKS_POLL_INTERVAL=POLL)

    @app.post("/orders/<int:order_id>")
    async def place_order(order_id: int) -> dict[str, object]:
        async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
            await conn.execute("INSERT INTO orders (id) VALUES (%s)", (order_id,))
            record = await send_confirmation.options(connection=conn).submit(order_id)
            if "refuse" in request.args:  # refused after the task was submitted
                abort(422)
        return record.to_dict()

    engine = create_async_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))

    @app.post("/sqlalchemy/orders/<int:order_id>")
    async def place_order_with_sqlalchemy(order_id: int) -> dict[str, object]:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(text("INSERT INTO orders (id) VALUES (:id)"), {"id": order_id})
            raw = await (await session.connection()).get_raw_connection()
            call = send_confirmation.options(connection=raw.driver_connection)
            record = await call.submit(order_id)
            if "refuse" in request.args:
                abort(422)
        return record.to_dict()

    app.after_serving(engine.dispose)
    return app


@pytest.fixture
async def harness(
    make_registry_app: RegistryAppFactory, postgres_url: str
) -> AsyncIterator[Harness]:
    confirmed.clear()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id integer PRIMARY KEY)")
    async with running(order_app(make_registry_app, postgres_url)) as started:
        yield started


async def orders(harness: Harness) -> list[int]:
    url = harness.app.config["TASKS_DATABASE"]
    async with await psycopg.AsyncConnection.connect(url) as conn:
        rows = await (await conn.execute("SELECT id FROM orders ORDER BY id")).fetchall()
    return [int(row[0]) for row in rows]


async def test_a_committed_order_confirms_once_and_a_refused_one_leaves_nothing(
    harness: Harness,
) -> None:
    refused = await harness.client.post("/orders/6?refuse=1")
    assert refused.status_code == 422
    placed = await harness.client.post("/orders/7")
    assert placed.status_code == 200
    record = TaskRecord.from_dict(await placed.get_json())
    assert (record.state, record.owner) == (State.QUEUED, None)
    done = await harness.wait_for(record.id, timeout=POLL / 2)
    assert (done.state, done.result) == (State.SUCCEEDED, "order 7 confirmed")
    assert await orders(harness) == [7]
    listed = await harness.client.get("/tasks")
    assert [task["id"] for task in (await listed.get_json())["tasks"]] == [record.id]
    assert confirmed == [7]


@pytest.mark.parametrize("path", ["/orders", "/sqlalchemy/orders"])
async def test_an_order_and_its_task_exist_together_or_not_at_all(
    harness: Harness, path: str
) -> None:
    assert (await harness.client.post(f"{path}/3?refuse=1")).status_code == 422
    placed = await harness.client.post(f"{path}/4")
    done = await harness.wait_for((await placed.get_json())["id"], timeout=POLL / 2)
    assert done.result == "order 4 confirmed"
    assert await orders(harness) == [4]
    assert len((await (await harness.client.get("/tasks")).get_json())["tasks"]) == 1
    assert confirmed == [4]


async def test_a_connection_of_the_wrong_kind_is_refused(harness: Harness) -> None:
    url = harness.app.config["TASKS_DATABASE"]
    with psycopg.connect(url) as conn, pytest.raises(InvalidOptions, match="AsyncConnection"):
        await send_confirmation.options(connection=conn).submit(1)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        with pytest.raises(InvalidOptions, match=r"\.options\(connection=conn\)"):
            await send_confirmation.submit(1, connection=conn)  # type: ignore[call-arg]
    assert (await (await harness.client.get("/tasks")).get_json())["tasks"] == []


async def test_the_api_answers_409_for_a_key_an_open_transaction_holds(harness: Harness) -> None:
    url = harness.app.config["TASKS_DATABASE"]
    post = {"json": {"order_id": 5}, "headers": {"Idempotency-Key": "order-5"}}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        async with conn.transaction():
            held = await send_confirmation.options(connection=conn, key="order-5").submit(5)
            busy = await harness.client.post("/tasks/send_confirmation", **post)
            assert busy.status_code == 409
            assert (await busy.get_json())["error"]["code"] == "idempotency_key_in_use"
        replayed = await harness.client.post("/tasks/send_confirmation", **post)
    assert replayed.status_code == 200
    assert (await replayed.get_json())["id"] == held.id
