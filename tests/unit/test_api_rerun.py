"""``POST /tasks/<id>/rerun`` and paging the listing with ``before``."""

from __future__ import annotations

import asyncio

from tasks import Registry
from tests.conftest import RegistryAppFactory
from tests.harness import Served, serving


async def test_rerun_starts_a_new_task_with_the_same_name_arguments_and_options(
    api: Served,
) -> None:
    first = await api.submit("count", {"n": 2, "interval": 0}, timeout=30, retries=2)
    await api.finished(first["id"])
    response = await api.client.post(f"/tasks/{first['id']}/rerun")
    assert response.status_code == 202
    again = await response.get_json()
    assert response.headers["Location"] == f"/tasks/{again['id']}"
    assert again["id"] != first["id"]
    assert again["state"] == "queued"
    picked = ("name", "kwargs", "timeout", "max_attempts")
    assert {key: again[key] for key in picked} == {key: first[key] for key in picked}
    assert (await api.finished(again["id"]))["result"] == 2


async def test_rerun_of_a_failed_task_keeps_the_tasks_own_settings(api: Served) -> None:
    first = await api.submit("fail", {"message": "again"})
    await api.finished(first["id"])
    again = await (await api.client.post(f"/tasks/{first['id']}/rerun")).get_json()
    assert (await api.finished(again["id"]))["error"]["message"] == "again"


async def test_rerun_refuses_a_task_that_has_not_ended(
    make_registry_app: RegistryAppFactory,
) -> None:
    registry = Registry()
    gate = asyncio.Event()

    @registry.task
    async def gated() -> None:
        await gate.wait()

    async with serving(make_registry_app(registry)) as api:
        record = await api.submit("gated")
        response = await api.client.post(f"/tasks/{record['id']}/rerun")
        assert response.status_code == 409
        assert (await response.get_json())["error"]["code"] == "task_not_finished"
        gate.set()
        await api.finished(record["id"])


async def test_rerun_of_an_unknown_id_is_404(api: Served) -> None:
    response = await api.client.post("/tasks/nosuch/rerun")
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "task_not_found"


async def test_listing_pages_back_with_before(api: Served) -> None:
    made = [(await api.submit("noop"))["id"] for _ in range(5)]
    await api.wait_all()
    newest_first = made[::-1]
    page = (await (await api.client.get("/tasks?limit=2")).get_json())["tasks"]
    assert [task["id"] for task in page] == newest_first[:2]
    response = await api.client.get(f"/tasks?limit=2&before={page[-1]['id']}")
    assert [task["id"] for task in (await response.get_json())["tasks"]] == newest_first[2:4]
    response = await api.client.get(f"/tasks?name=noop&before={newest_first[3]}")
    assert [task["id"] for task in (await response.get_json())["tasks"]] == newest_first[4:]


async def test_before_an_unknown_id_is_404(api: Served) -> None:
    response = await api.client.get("/tasks?before=nosuch")
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "task_not_found"
