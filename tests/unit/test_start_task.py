"""``GET /start_task?value=N``: the classic example, answered at once and tracked like any task."""

from __future__ import annotations

from tasks import State
from tests.harness import Served


async def test_start_task_answers_started_and_the_sleep_runs_after(api: Served) -> None:
    response = await api.client.get("/start_task?value=0.05")

    assert response.status_code == 202
    body = await response.get_json()
    assert body["status"] == "started"
    task = body["task"]
    assert task["name"] == "sleep"
    assert task["kwargs"] == {"seconds": 0.05}
    assert task["state"] == "queued"
    assert response.headers["Location"] == f"/tasks/{task['id']}"
    record = await api.finished(task["id"])
    assert record["state"] == "succeeded"
    assert record["result"] == 0.05


async def test_start_task_answers_while_the_work_is_still_going(api: Served) -> None:
    response = await api.client.get("/start_task?value=60")
    task_id = (await response.get_json())["task"]["id"]

    running = await api.until(task_id, lambda record: record.state is State.RUNNING)

    assert response.status_code == 202
    assert running.finished_at is None
    assert (await api.client.delete(f"/tasks/{task_id}")).status_code == 202
    assert (await api.finished(task_id))["state"] == "cancelled"


async def test_start_task_sleeps_20_seconds_by_default(api: Served) -> None:
    response = await api.client.get("/start_task")

    task = (await response.get_json())["task"]
    assert task["kwargs"] == {"seconds": 20.0}
    await api.client.delete(f"/tasks/{task['id']}")
    assert (await api.finished(task["id"]))["state"] == "cancelled"


async def test_started_tasks_are_listed_with_the_others(api: Served) -> None:
    started = (await (await api.client.get("/start_task?value=0")).get_json())["task"]["id"]
    posted = (await api.submit("sleep", {"seconds": 0}))["id"]
    await api.runner.join()

    listed = await (await api.client.get("/tasks?name=sleep&state=succeeded")).get_json()

    assert [record["id"] for record in listed["tasks"]] == [posted, started]
