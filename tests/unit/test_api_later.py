"""The HTTP API for later and once: ?delay=, ?at=, Idempotency-Key, GET /schedules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tasks import Registry
from tests.conftest import RegistryAppFactory, ServeFactory
from tests.harness import Served, serving


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_delayed_task_reads_scheduled_then_succeeds_after_its_delay(
    serve: ServeFactory,
) -> None:
    async with serve(TASKS_POLL_INTERVAL=0.05) as api:
        created = await api.submit("noop", delay="0.4")
        assert created["state"] == "scheduled"
        assert created["owner"] is None
        run_at = moment(created["run_at"])
        assert run_at - moment(created["created_at"]) == timedelta(seconds=0.4)
        listed = await (await api.client.get("/tasks?state=scheduled")).get_json()
        assert [task["id"] for task in listed["tasks"]] == [created["id"]]
        final = await api.finished(created["id"])
    assert final["state"] == "succeeded"
    assert moment(final["started_at"]) >= run_at
    assert final["run_at"] == created["run_at"]


async def test_at_takes_an_offset_and_a_moment_past_runs_now(api: Served) -> None:
    soon = datetime.now(UTC) + timedelta(hours=2)
    text = soon.astimezone(timezone(timedelta(hours=1))).isoformat()
    assert "+01:00" in text
    later = await api.submit("noop", at=text)  # the test client encodes + as %2B
    assert later["state"] == "scheduled"
    assert moment(later["run_at"]) == soon
    # a + that a query string decoded to a space still reads as an offset
    spaced = await api.client.post(f"/tasks/noop?at={text.replace('+', ' ')}")
    assert spaced.status_code == 202, await spaced.get_json()
    past = await api.submit("noop", at="2001-02-03T04:05:06Z")
    assert past["state"] == "queued"
    assert past["run_at"] == "2001-02-03T04:05:06.000000Z"
    assert (await api.finished(past["id"]))["state"] == "succeeded"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("delay=-1", "delay must be a number of seconds from 0"),
        ("delay=soon", "delay must be a number of seconds, not 'soon'"),
        ("delay=inf", "delay must be a number of seconds from 0"),
        ("delay=nan", "delay must be a number of seconds from 0"),
        ("delay=1e12", "delay must be a number of seconds from 0"),
        ("at=2030-01-01T09:00:00", "at must carry its UTC offset"),
        ("at=tomorrow", "at must be an ISO 8601 date and time"),
        ("at=2030-13-01T00:00:00Z", "at must be an ISO 8601 date and time"),
        ("delay=5&at=2030-01-01T00:00:00Z", "give delay or at, not both"),
        ("delay=1&delay=2", "given 2 times"),
    ],
)
async def test_a_bad_delay_is_a_400_with_what_to_fix(api: Served, query: str, message: str) -> None:
    response = await api.client.post(f"/tasks/noop?{query}")
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"]["code"] == "bad_request"
    assert message in body["error"]["message"]
    assert await api.runner.store.query() == []


async def test_a_scheduled_task_is_cancelled_at_once(api: Served) -> None:
    created = await api.submit("sleep", {"seconds": 1}, delay="3600")
    response = await api.client.delete(f"/tasks/{created['id']}")
    assert response.status_code == 202
    cancelled = await response.get_json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["finished_at"] is not None
    again = await api.client.delete(f"/tasks/{created['id']}")
    assert again.status_code == 409


async def test_delayed_tasks_skip_the_full_queue_but_have_their_own_bound(
    serve: ServeFactory,
) -> None:
    async with serve(TASKS_MAX_QUEUED=0, TASKS_MAX_SCHEDULED=2) as api:
        refused = await api.client.post("/tasks/noop")
        assert refused.status_code == 503  # the queue takes nothing
        for _ in range(2):
            await api.submit("noop", delay="60")
        response = await api.client.post("/tasks/noop?delay=60")
        assert response.status_code == 503
        assert "Retry-After" in response.headers
        body = await response.get_json()
        assert body["error"]["code"] == "too_many_scheduled"
        assert "TASKS_MAX_SCHEDULED" in body["error"]["message"]


# -- idempotency keys ---------------------------------------------------------------------


async def post_keyed(api: Served, key: str, body: dict[str, Any]) -> Any:
    return await api.client.post("/tasks/count", json=body, headers={"Idempotency-Key": key})


async def test_a_repeated_post_with_a_key_gets_the_first_task_back(api: Served) -> None:
    first = await post_keyed(api, "pay-7", {"n": 1})
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    record = await first.get_json()
    assert record["idempotency_key"] == "pay-7"
    again = await post_keyed(api, "pay-7", {"n": 1})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == f"/tasks/{record['id']}"
    assert (await again.get_json())["id"] == record["id"]
    conflict = await post_keyed(api, "pay-7", {"n": 2})
    assert conflict.status_code == 409
    error = (await conflict.get_json())["error"]
    assert error["code"] == "idempotency_key_conflict"
    assert "other arguments" in error["message"]
    assert len(await api.runner.store.query()) == 1


async def test_twenty_concurrent_posts_with_one_key_create_one_task(api: Served) -> None:
    answers = await asyncio.gather(*(post_keyed(api, "burst", {"n": 1}) for _ in range(20)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 19 + [202]
    ids = {(await answer.get_json())["id"] for answer in answers}
    assert len(ids) == 1
    assert len(await api.runner.store.query()) == 1


@pytest.mark.parametrize(
    ("key", "message"),
    [("", "must not be empty"), ("k" * 256, "at most 255 characters"), ("a\x7fb", "printable")],
)
async def test_a_bad_key_is_a_400(api: Served, key: str, message: str) -> None:
    response = await post_keyed(api, key, {"n": 1})
    assert response.status_code == 400
    assert message in (await response.get_json())["error"]["message"]
    assert await api.runner.store.query() == []


async def test_a_key_given_twice_is_a_400(api: Served) -> None:
    response = await api.client.post(
        "/tasks/noop", headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    )
    assert response.status_code == 400
    assert "given 2 times" in (await response.get_json())["error"]["message"]


# -- schedules ------------------------------------------------------------------------------

periodic = Registry()


@periodic.task(every=timedelta(hours=1))
async def hourly() -> None:
    return None


@periodic.task(cron="30 2 * * *", timezone="Europe/Paris", catch_up=False)
async def nightly() -> None:
    return None


@periodic.task
async def plain() -> None:
    return None


async def test_schedules_lists_each_periodic_task_with_its_last_and_next_run(
    make_registry_app: RegistryAppFactory,
) -> None:
    async with serving(make_registry_app(periodic)) as api:
        response = await api.client.get("/schedules")
        assert response.status_code == 200
        listed = {item["name"]: item for item in (await response.get_json())["schedules"]}
        assert sorted(listed) == ["hourly", "nightly"]
        hourly_item = listed["hourly"]
        assert hourly_item["every"] == 3600.0
        assert hourly_item["cron"] is None
        assert hourly_item["timezone"] == "UTC"
        assert moment(hourly_item["next_run"]) > datetime.now(UTC)
        assert listed["nightly"]["cron"] == "30 2 * * *"
        assert listed["nightly"]["timezone"] == "Europe/Paris"
        assert listed["nightly"]["catch_up"] is False
        tick = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        store = api.runner.store
        assert await store.advance_schedule("hourly", tick, None, owner=None, lease=30)
        again = await (await api.client.get("/schedules")).get_json()
        assert again["schedules"][0]["last_run"] == {
            "tick": tick.isoformat().replace("+00:00", ".000000Z"),
            "task_id": None,
            "state": None,
        }
        bad = await api.client.get("/schedules?x=1")
        assert bad.status_code == 400
        types = await (await api.client.get("/task-types")).get_json()
        assert {t["name"]: t["schedule"] for t in types["task_types"]}["plain"] is None


async def test_the_answers_fit_the_described_shapes(make_registry_app: RegistryAppFactory) -> None:
    from tasks.web.schemas import ScheduleList, Task

    async with serving(make_registry_app(periodic)) as api:
        record = await api.submit("plain", delay="60")
        Task.model_validate(record)
        listed = await (await api.client.get("/schedules")).get_json()
        ScheduleList.model_validate(listed)
        document = await (await api.client.get("/openapi.json")).get_json()
        submit = document["paths"]["/tasks/plain"]["post"]
        names = {parameter["name"] for parameter in submit["parameters"]}
        assert {"delay", "at", "Idempotency-Key", "timeout", "retries"} <= names
        assert {"200", "202", "409"} <= set(submit["responses"])
        assert "/schedules" in document["paths"]


async def test_a_delayed_task_is_submitted_at_once_and_waits_in_the_queue_from_its_run_at(
    make_registry_app: RegistryAppFactory,
) -> None:
    import uuid

    from prometheus_client.parser import text_string_to_metric_families

    suffix = uuid.uuid4().hex[:8]  # names of its own: the process shares one set of metrics
    registry = Registry()

    @registry.task(f"later_{suffix}")
    async def later() -> None:
        return None

    name = later.definition.name
    async with serving(make_registry_app(registry, TASKS_POLL_INTERVAL=0.05)) as api:
        created = await api.submit(name, delay="0.5")

        async def samples() -> dict[str, float]:
            text = await (await api.client.get("/metrics")).get_data(as_text=True)
            return {
                sample.name: sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.labels.get("task") == name and not sample.labels.get("le")
            }

        waiting = await samples()
        assert waiting["tasks_submitted_total"] == 1
        assert waiting["tasks_waiting"] == 0  # a row in the store, held by no worker
        await api.finished(created["id"])
        done = await samples()
    assert done["tasks_queue_wait_seconds_count"] == 1
    assert done["tasks_queue_wait_seconds_sum"] < 0.5  # the delay itself is not queueing
