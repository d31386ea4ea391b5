"""``/queues`` over HTTP: listing the queues, pausing and resuming one, and who may."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tasks import State, TaskRecord
from tests.conftest import ServeFactory
from tests.harness import WAIT, Served

LONG_COUNT = {"n": 1000, "interval": 10}


async def answer(response: Any, status: int) -> dict[str, Any]:
    body = await response.get_json()
    assert response.status_code == status, body
    assert isinstance(body, dict)
    return body


def queue_named(listing: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(queue for queue in listing["queues"] if queue["name"] == name)
    return found


async def test_pause_then_resume_over_http(api: Served) -> None:
    listing = await answer(await api.client.get("/queues"), 200)
    assert [queue["name"] for queue in listing["queues"]] == ["default", "email"]
    email = queue_named(listing, "email")
    assert email["tasks"] == ["send_email"]
    limit = {"task": "send_email", "concurrency": 4, "concurrency_key": None, "rate_limit": "10/s"}
    assert email["limits"] == [limit]
    default = queue_named(listing, "default")
    assert default == {
        "name": "default",
        "paused": False,
        "waiting": 0,
        "running": 0,
        "tasks": sorted(default["tasks"]),
        "limits": default["limits"],
    }
    assert {limit["task"] for limit in default["limits"]} == {
        "render_pdf",
        "notify",
        "tenant_export",
    }
    assert {"count", "noop", "sleep"} <= set(default["tasks"])

    paused = await answer(await api.client.post("/queues/default/pause"), 200)
    assert (paused["name"], paused["paused"]) == ("default", True)
    submitted = [await api.submit("noop") for _ in range(3)]  # still accepted: 202
    await api.runner.join()
    for task in submitted:
        record = await api.api_record(task["id"])
        assert (record["state"], record["owner"], record["attempts"]) == ("queued", None, 0)
    listing = await answer(await api.client.get("/queues"), 200)
    assert queue_named(listing, "default") | {"tasks": [], "limits": []} == {
        "name": "default",
        "paused": True,
        "waiting": 3,
        "running": 0,
        "tasks": [],
        "limits": [],
    }

    resumed = await answer(await api.client.post("/queues/default/resume"), 200)
    assert resumed["paused"] is False
    for task in submitted:
        assert (await api.finished(task["id"]))["state"] == "succeeded"
    listing = await answer(await api.client.get("/queues"), 200)
    assert queue_named(listing, "default")["waiting"] == 0


async def test_the_running_count_and_a_running_task_that_finishes(api: Served) -> None:
    task = await api.submit("count", LONG_COUNT)
    await api.until(task["id"], lambda record: record.state is State.RUNNING)
    paused = await answer(await api.client.post("/queues/default/pause"), 200)
    assert (paused["running"], paused["waiting"]) == (1, 0)
    await api.client.delete(f"/tasks/{task['id']}")  # a running task still takes a cancel
    assert (await api.finished(task["id"]))["state"] == "cancelled"
    await api.client.post("/queues/default/resume")


@pytest.mark.parametrize("action", ["pause", "resume"])
async def test_an_unknown_queue_is_a_404_in_the_usual_shape(api: Served, action: str) -> None:
    body = await answer(await api.client.post(f"/queues/nope/{action}"), 404)
    assert body["error"]["code"] == "unknown_queue"
    assert body["error"]["message"] == (
        "no task waits in a queue named 'nope'; its queues: default, email"
    )


async def test_the_queue_routes_take_no_query(api: Served) -> None:
    for response in (
        await api.client.get("/queues?x=1"),
        await api.client.post("/queues/default/pause?now=1"),
    ):
        assert (await answer(response, 400))["error"]["code"] == "bad_request"
    assert queue_named(await answer(await api.client.get("/queues"), 200), "default")["paused"] is (
        False
    )


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}],
)
async def test_a_cross_site_pause_is_refused_like_every_write(
    api: Served, headers: dict[str, str]
) -> None:
    for action in ("pause", "resume"):
        response = await api.client.post(f"/queues/default/{action}", headers=headers)
        assert (await answer(response, 403))["error"]["code"] == "cross_site_request"
    assert await api.runner.records.paused_queues() == frozenset()
    response = await api.client.get("/queues", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200  # reads are left to the browser's same-origin policy


async def test_another_machine_and_a_missing_token_are_refused(serve: ServeFactory) -> None:
    async with serve() as api:
        remote = {"scope_base": {"client": ("192.0.2.10", 40000)}}
        response = await api.client.post("/queues/default/pause", **remote)
        assert (await answer(response, 403))["error"]["code"] == "remote_access_refused"
    async with serve(TASKS_API_TOKEN="s3cret") as api:
        for response in (
            await api.client.get("/queues"),
            await api.client.post("/queues/default/pause"),
        ):
            assert (await answer(response, 401))["error"]["code"] == "authentication_required"
        bearer = {"Authorization": "Bearer s3cret"}
        response = await api.client.post("/queues/default/pause", headers=bearer)
        assert (await answer(response, 200))["paused"] is True


async def test_a_pause_holds_for_a_later_app_on_the_same_store(serve: ServeFactory) -> None:
    async with serve() as api:
        await answer(await api.client.post("/queues/default/pause"), 200)
        task = await api.submit("noop")
    async with serve() as api:  # a restart: the same file
        await api.runner.join()
        record: TaskRecord = await api.runner.get(task["id"])
        assert (record.state, record.owner) == (State.QUEUED, None)
        listing = await answer(await api.client.get("/queues"), 200)
        assert queue_named(listing, "default")["paused"] is True
        await answer(await api.client.post("/queues/default/resume"), 200)
        async with asyncio.timeout(WAIT):
            assert (await api.finished(task["id"]))["state"] == "succeeded"
