"""The HTTP contract: submit, read, list, health, results, errors and progress on the record."""

from __future__ import annotations

from datetime import datetime

from tasks import State
from tests.conftest import ServeFactory
from tests.harness import Served

RECORD_KEYS = {
    "id",
    "name",
    "kwargs",
    "state",
    "progress",
    "result",
    "error",
    "attempts",
    "max_attempts",
    "timeout",
    "created_at",
    "started_at",
    "finished_at",
}


async def test_submit_answers_202_with_location_and_the_queued_record(api: Served) -> None:
    response = await api.client.post("/tasks/count", json={"n": 2, "interval": 0})

    assert response.status_code == 202
    record = await response.get_json()
    assert set(record) >= RECORD_KEYS
    assert response.headers["Location"] == f"/tasks/{record['id']}"
    assert response.content_type == "application/json"
    assert record["name"] == "count"
    assert record["state"] == "queued"
    assert record["attempts"] == 0
    assert record["progress"] is None
    assert record["result"] is None
    assert record["error"] is None
    assert record["started_at"] is None
    assert record["finished_at"] is None
    assert record["created_at"].endswith("Z")
    await api.finished(record["id"])


async def test_location_follows_the_root_path_of_each_request(api: Served) -> None:
    mounted = await api.client.post("/app/tasks/noop", root_path="/app")
    plain = await api.client.post("/tasks/noop")
    again = await api.client.post("/app/tasks/noop", root_path="/app")

    for response, root in ((mounted, "/app"), (plain, ""), (again, "/app")):
        assert response.status_code == 202
        record = await response.get_json()
        assert response.headers["Location"] == f"{root}/tasks/{record['id']}"
    await api.runner.join()


async def test_kwargs_are_stored_normalised_with_defaults_filled_in(api: Served) -> None:
    counted = await api.submit("count", {"n": "3"})
    slept = await api.submit("sleep", {"seconds": 0})

    assert counted["kwargs"] == {"n": 3, "interval": 0.1}
    assert slept["kwargs"] == {"seconds": 0.0}
    assert isinstance(slept["kwargs"]["seconds"], float)
    await api.runner.join()


async def test_an_empty_body_means_no_arguments(api: Served) -> None:
    response = await api.client.post("/tasks/noop")

    assert response.status_code == 202
    record = await response.get_json()
    assert record["kwargs"] == {}
    assert (await api.finished(record["id"]))["state"] == "succeeded"


async def test_the_record_is_stored_before_the_202_goes_out(api: Served) -> None:
    record = await api.submit("noop")

    stored = await api.runner.store.get(record["id"])

    assert stored is not None
    assert stored.name == "noop"
    await api.runner.join()


async def test_get_follows_the_task_to_its_result(api: Served) -> None:
    submitted = await api.submit("count", {"n": 3, "interval": 0})

    record = await api.finished(submitted["id"])

    assert record["id"] == submitted["id"]
    assert record["state"] == "succeeded"
    assert record["result"] == 3
    assert record["error"] is None
    assert record["attempts"] == 1
    started = datetime.fromisoformat(record["started_at"])
    finished = datetime.fromisoformat(record["finished_at"])
    assert datetime.fromisoformat(record["created_at"]) <= started <= finished


async def test_the_location_header_points_at_the_record(api: Served) -> None:
    response = await api.client.post("/tasks/noop")
    await api.runner.join()

    followed = await api.client.get(response.headers["Location"])

    assert followed.status_code == 200
    assert (await followed.get_json())["state"] == "succeeded"


async def test_a_failure_is_stored_on_the_record(api: Served) -> None:
    submitted = await api.submit("fail", {"message": "disk on fire"})

    record = await api.finished(submitted["id"])

    assert record["state"] == "failed"
    traceback = record["error"].pop("traceback")
    assert record["error"] == {"type": "RuntimeError", "message": "disk on fire"}
    # the task's own frames, not the framework's that called it
    assert traceback.startswith("Traceback (most recent call last):\n")
    assert 'jobs.py", line' in traceback
    assert ", in fail\n    raise RuntimeError(message)" in traceback
    assert traceback.endswith("RuntimeError: disk on fire\n")
    assert "attempt.py" not in traceback
    assert record["result"] is None
    assert record["finished_at"] is not None


async def test_a_thread_task_returns_its_result(api: Served) -> None:
    submitted = await api.submit("sleep", {"seconds": 0.05})

    record = await api.finished(submitted["id"])

    assert record["state"] == "succeeded"
    assert record["result"] == 0.05
    assert record["progress"]["total"] == 0.05


async def test_progress_is_visible_while_count_runs(serve: ServeFactory) -> None:
    async with serve(TASKS_PROGRESS_INTERVAL=0) as api:
        submitted = await api.submit("count", {"n": 1000, "interval": 0.01})

        await api.until(submitted["id"], lambda record: record.progress is not None)
        record = await api.api_record(submitted["id"])

        assert record["state"] == "running"
        assert record["progress"]["total"] == 1000
        assert 1 <= record["progress"]["current"] < 1000
        response = await api.client.delete(f"/tasks/{submitted['id']}")
        assert response.status_code == 202


async def test_the_final_record_carries_the_last_progress_report(api: Served) -> None:
    submitted = await api.submit("count", {"n": 4, "interval": 0})

    record = await api.finished(submitted["id"])

    assert record["progress"] == {"current": 4, "total": 4, "message": None}


async def test_listing_is_newest_first(api: Served) -> None:
    ids = [(await api.submit("noop"))["id"] for _ in range(3)]
    await api.runner.join()

    response = await api.client.get("/tasks")

    assert response.status_code == 200
    listed = (await response.get_json())["tasks"]
    assert [record["id"] for record in listed] == ids[::-1]


async def test_listing_filters_by_state_name_and_limit(api: Served) -> None:
    noops = [(await api.submit("noop"))["id"] for _ in range(3)]
    failed = (await api.submit("fail"))["id"]
    await api.runner.join()

    async def listed(query: str) -> list[str]:
        response = await api.client.get(f"/tasks?{query}")
        assert response.status_code == 200
        return [record["id"] for record in (await response.get_json())["tasks"]]

    assert await listed("state=failed") == [failed]
    assert await listed("state=succeeded") == noops[::-1]
    assert await listed("name=noop") == noops[::-1]
    assert await listed("name=fail&state=succeeded") == []
    assert await listed("limit=2") == [failed, noops[2]]
    assert await listed("name=noop&limit=1") == [noops[2]]
    assert await listed("name=nothing") == []
    assert await listed("state=&name=&limit=") == [failed, *noops[::-1]]


async def test_listing_shows_states_as_they_are(api: Served) -> None:
    submitted = await api.submit("count", {"n": 1000, "interval": 10})
    await api.until(submitted["id"], lambda record: record.state is State.RUNNING)

    response = await api.client.get("/tasks?state=running")

    assert [record["id"] for record in (await response.get_json())["tasks"]] == [submitted["id"]]
    await api.client.delete(f"/tasks/{submitted['id']}")


async def test_healthz_reports_ok_and_the_counts(api: Served) -> None:
    response = await api.client.get("/healthz")

    assert response.status_code == 200
    body = await response.get_json()
    assert body == {
        "status": "ok",
        "running": 0,
        "waiting": 0,
        "worker": api.runner.owner,
        "store": {"status": "ok"},
        "waiting_for_runner": {},
    }


async def test_healthz_counts_running_tasks(api: Served) -> None:
    submitted = await api.submit("count", {"n": 1000, "interval": 10})

    body = await (await api.client.get("/healthz")).get_json()

    assert (body["status"], body["running"], body["waiting"]) == ("ok", 1, 0)
    await api.client.delete(f"/tasks/{submitted['id']}")


async def test_a_submission_may_give_its_own_priority(api: Served) -> None:
    response = await api.client.post("/tasks/noop?priority=7")
    assert response.status_code == 202
    record = await response.get_json()
    assert (record["queue"], record["priority"]) == ("default", 7)
    await api.finished(record["id"])
    for bad, says in (("high", "a whole number"), ("1001", "from -1000 to 1000")):
        refused = await api.client.post(f"/tasks/noop?priority={bad}")
        assert refused.status_code == 400
        assert says in (await refused.get_json())["error"]["message"]
    types = await (await api.client.get("/task-types")).get_json()
    noop = next(task for task in types["task_types"] if task["name"] == "noop")
    assert (noop["queue"], noop["priority"]) == ("default", 0)
