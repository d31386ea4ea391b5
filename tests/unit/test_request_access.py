"""A task never sees the request that scheduled it: touching ``request`` fails clearly."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Quart, jsonify, request

from tasks import MemoryStore, Registry, Runner, Tasks
from tests.harness import WAIT

registry = Registry()


@registry.task()
async def read_query_in_a_coroutine() -> str:
    return request.args["who"]


@registry.task()
def read_path_in_a_thread() -> str:
    return request.path


@registry.task()
async def look_for_a_request() -> bool:
    return bool(request)


def app_submitting_from_a_view() -> Quart:
    app = Quart(__name__)
    Tasks(app, registry=registry, store=MemoryStore())

    @app.post("/run/<name>")
    async def run(name: str) -> Any:
        tasks: Tasks = app.extensions["tasks"]
        record = await tasks.runner.submit(name)
        return jsonify(id=record.id), 202

    return app


async def run_from_a_view(name: str) -> dict[str, Any]:
    app = app_submitting_from_a_view()
    async with app.test_app() as test_app:
        response = await test_app.test_client().post(f"/run/{name}?who=alice")
        assert response.status_code == 202
        task_id = (await response.get_json())["id"]
        runner: Runner = app.extensions["tasks"].runner
        async with asyncio.timeout(WAIT):
            record = await runner.wait(task_id)
    return record.to_dict()


async def test_a_coroutine_task_touching_request_fails_with_advice() -> None:
    record = await run_from_a_view("read_query_in_a_coroutine")

    assert record["state"] == "failed"
    assert record["error"]["type"] == "RequestAccessError"
    assert "pass it as arguments" in record["error"]["message"]
    assert "request" in record["error"]["message"]


async def test_a_thread_task_touching_request_fails_with_advice() -> None:
    record = await run_from_a_view("read_path_in_a_thread")

    assert record["state"] == "failed"
    assert record["error"]["type"] == "RequestAccessError"
    assert "pass it as arguments" in record["error"]["message"]


async def test_inside_a_task_the_request_is_falsy() -> None:
    record = await run_from_a_view("look_for_a_request")

    assert record["state"] == "succeeded"
    assert record["result"] is False
