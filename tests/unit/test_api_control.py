"""Controlling tasks over HTTP: cancellation, per-call timeouts and retries, and the limits."""

from __future__ import annotations

import asyncio

from quart_app import jobs
from tasks import MemoryStore, Registry, State, TaskRecord, current_task
from tests.conftest import RegistryAppFactory, ServeFactory
from tests.harness import Served, serving

LONG_COUNT = {"n": 1000, "interval": 10}


def is_running(record: TaskRecord) -> bool:
    return record.state is State.RUNNING


# -- cancellation -------------------------------------------------------------------------


async def test_delete_cancels_a_running_coroutine_task(api: Served) -> None:
    task_id = (await api.submit("count", LONG_COUNT))["id"]
    await api.until(task_id, is_running)

    response = await api.client.delete(f"/tasks/{task_id}")

    assert response.status_code == 202
    answered = await response.get_json()
    assert answered["id"] == task_id
    assert answered["state"] == "cancelled"
    assert answered["finished_at"] is not None
    assert (await api.finished(task_id))["state"] == "cancelled"


async def test_delete_cancels_a_running_thread_task(api: Served) -> None:
    task_id = (await api.submit("sleep", {"seconds": 60}))["id"]
    await api.until(task_id, is_running)

    response = await api.client.delete(f"/tasks/{task_id}")

    assert response.status_code == 202
    record = await api.finished(task_id)
    assert record["state"] == "cancelled"
    assert record["result"] is None


async def test_delete_cancels_a_waiting_task(serve: ServeFactory) -> None:
    async with serve(TASKS_MAX_RUNNING=1) as api:
        running = (await api.submit("count", LONG_COUNT))["id"]
        waiting = (await api.submit("noop"))["id"]

        response = await api.client.delete(f"/tasks/{waiting}")

        assert response.status_code == 202
        assert (await response.get_json())["state"] == "cancelled"
        assert (await api.api_record(waiting))["attempts"] == 0
        assert (await api.api_record(running))["state"] in {"queued", "running"}
        await api.client.delete(f"/tasks/{running}")
        await api.runner.join()
        assert (await api.api_record(waiting))["state"] == "cancelled"


async def test_delete_of_a_finished_task_is_a_conflict(api: Served) -> None:
    task_id = (await api.submit("noop"))["id"]
    await api.finished(task_id)

    response = await api.client.delete(f"/tasks/{task_id}")

    assert response.status_code == 409
    error = (await response.get_json())["error"]
    assert error["code"] == "task_finished"
    assert "succeeded" in error["message"]
    assert (await api.api_record(task_id))["state"] == "succeeded"


async def test_a_second_delete_is_a_conflict(api: Served) -> None:
    task_id = (await api.submit("count", LONG_COUNT))["id"]
    assert (await api.client.delete(f"/tasks/{task_id}")).status_code == 202
    await api.finished(task_id)

    response = await api.client.delete(f"/tasks/{task_id}")

    assert response.status_code == 409
    assert "cancelled" in (await response.get_json())["error"]["message"]


class GatedStore(MemoryStore):
    """Holds the write that marks a task running until the test lets it through."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()
        self.let_through = asyncio.Event()

    async def update(self, record: TaskRecord, *, owner: str) -> bool:
        if record.state is State.RUNNING and not self.let_through.is_set():
            self.holding.set()
            await self.let_through.wait()
        return await super().update(record, owner=owner)


async def test_delete_while_the_running_state_is_written_still_cancels(
    make_registry_app: RegistryAppFactory,
) -> None:
    registry = Registry()
    registry.task(name="count")(jobs.count)
    store = GatedStore()
    app = make_registry_app(registry, store=store, TASKS_CANCEL_WAIT=0)
    async with serving(app) as api:
        task_id = (await api.submit("count", LONG_COUNT))["id"]
        await store.holding.wait()

        response = await api.client.delete(f"/tasks/{task_id}")
        store.let_through.set()

        assert response.status_code == 202
        assert (await api.finished(task_id))["state"] == "cancelled"


# -- timeouts -------------------------------------------------------------------------------


async def test_a_per_call_timeout_fails_a_coroutine_task(api: Served) -> None:
    submitted = await api.submit("count", LONG_COUNT, timeout=0.1)
    assert submitted["timeout"] == 0.1

    record = await api.finished(submitted["id"])

    assert record["state"] == "failed"
    assert record["error"]["type"] == "timeout"
    assert "0.1 s" in record["error"]["message"]
    assert record["attempts"] == 1


async def test_a_per_call_timeout_fails_a_thread_task(api: Served) -> None:
    submitted = await api.submit("sleep", {"seconds": 60}, timeout=0.2)

    record = await api.finished(submitted["id"])

    assert record["state"] == "failed"
    assert record["error"]["type"] == "timeout"


# -- retries --------------------------------------------------------------------------------


def quick_retry_registry() -> Registry:
    """The example ``fail`` task, but with a backoff short enough for a test."""
    registry = Registry()
    registry.task(name="fail", backoff=0.01)(jobs.fail)
    return registry


async def test_retries_from_the_query_run_every_attempt(
    make_registry_app: RegistryAppFactory,
) -> None:
    async with serving(make_registry_app(quick_retry_registry())) as api:
        writes: list[TaskRecord] = []
        api.runner.subscribe(writes.append)

        submitted = await api.submit("fail", {"message": "again"}, retries=2)
        record = await api.finished(submitted["id"])

    assert submitted["max_attempts"] == 3
    assert record["state"] == "failed"
    assert record["attempts"] == 3
    assert record["error"]["traceback"].endswith("RuntimeError: again\n")
    assert record["error"] | {"traceback": None} == {
        "type": "RuntimeError",
        "message": "again",
        "traceback": None,
    }
    states = [write.state.value for write in writes if write.id == submitted["id"]]
    assert states == ["queued", "running", "queued", "running", "queued", "running", "failed"]
    retried = [w for w in writes if w.state is State.QUEUED and w.attempts > 0]
    assert all(write.error is not None for write in retried)


async def test_without_retries_a_failure_is_final(make_registry_app: RegistryAppFactory) -> None:
    async with serving(make_registry_app(quick_retry_registry())) as api:
        record = await api.finished((await api.submit("fail"))["id"])

    assert record["state"] == "failed"
    assert record["attempts"] == record["max_attempts"] == 1


async def test_a_retried_task_can_succeed_and_the_query_overrides_declared_retries(
    make_registry_app: RegistryAppFactory,
) -> None:
    registry = Registry()

    @registry.task(retries=3, backoff=0.01)
    async def flaky() -> int:
        attempt = current_task().attempt
        if attempt < 2:
            raise ConnectionError("not yet")
        return attempt

    async with serving(make_registry_app(registry)) as api:
        retried = await api.finished((await api.submit("flaky"))["id"])
        once = await api.finished((await api.submit("flaky", retries=0))["id"])

    assert retried["state"] == "succeeded"
    assert retried["result"] == 2
    assert retried["attempts"] == 2
    assert retried["max_attempts"] == 4
    assert retried["error"] is None
    assert once["state"] == "failed"
    assert once["error"]["type"] == "ConnectionError"
    assert once["error"]["message"] == "not yet"


# -- limits ---------------------------------------------------------------------------------


async def test_a_full_queue_answers_503_with_retry_after(serve: ServeFactory) -> None:
    async with serve(TASKS_MAX_RUNNING=1, TASKS_MAX_QUEUED=1) as api:
        running = (await api.submit("count", LONG_COUNT))["id"]
        waiting = (await api.submit("noop"))["id"]
        health = await (await api.client.get("/healthz")).get_json()
        assert (health["status"], health["running"], health["waiting"]) == ("ok", 1, 1)

        refused = await api.client.post("/tasks/noop")
        classic = await api.client.get("/start_task?value=1")

        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        error = (await refused.get_json())["error"]
        assert error["code"] == "queue_full"
        assert "TASKS_MAX_QUEUED" in error["message"]
        assert classic.status_code == 503
        assert "Retry-After" in classic.headers
        listed = await (await api.client.get("/tasks")).get_json()
        assert [record["id"] for record in listed["tasks"]] == [waiting, running]

        await api.client.delete(f"/tasks/{waiting}")
        accepted = await api.client.post("/tasks/noop")
        assert accepted.status_code == 202
        await api.client.delete(f"/tasks/{running}")
        await api.runner.join()


async def test_a_draining_server_refuses_new_tasks_with_503(api: Served) -> None:
    await api.runner.drain()

    refused = await api.client.post("/tasks/noop")
    response = await api.client.get("/healthz")
    health = await response.get_json()

    assert refused.status_code == 503
    assert "Retry-After" in refused.headers
    assert (await refused.get_json())["error"]["code"] == "shutting_down"
    assert health["status"] == "draining"
    assert response.status_code == 503
