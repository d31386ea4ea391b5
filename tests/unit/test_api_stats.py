"""``GET /stats`` and the search parameters of ``GET /tasks`` over HTTP: what they answer for
tasks of known outcomes, and the clear ``400`` of a bad parameter."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.web.stats import bucket_for
from tests.harness import Served


async def answer(response: Any, status: int) -> dict[str, Any]:
    body = await response.get_json()
    assert response.status_code == status, body
    assert isinstance(body, dict)
    return body


async def test_stats_count_what_ended_and_what_is_live(api: Served) -> None:
    done = [await api.submit("noop") for _ in range(3)]
    failed = await api.submit("fail", {"message": "card declined"})
    for task in (*done, failed):
        await api.finished(task["id"])
    stats = await answer(await api.client.get("/stats"), 200)
    assert (stats["window"], stats["bucket"]) == (3600, 60)
    assert stats["states"] | {"queued": 0, "running": 0, "scheduled": 0} == {
        "scheduled": 0,
        "queued": 0,
        "running": 0,
        "succeeded": 3,
        "failed": 1,
        "cancelled": 0,
    }
    by_name = {task["name"]: task for task in stats["tasks"]}
    assert by_name["noop"]["finished"] == {"succeeded": 3, "failed": 0, "cancelled": 0}
    assert by_name["fail"]["finished"]["failed"] == 1
    assert by_name["noop"]["duration"]["p50"] >= 0
    assert by_name["count"]["duration"] == {"p50": None, "p95": None}  # registered, not run
    assert len(stats["throughput"]) == 60
    ended = {
        state: sum(point[state] for point in stats["throughput"])
        for state in ("succeeded", "failed")
    }
    assert ended == {"succeeded": 3, "failed": 1}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("window=10", "window must be from 60 to 2592000, not 10"),
        ("window=soon", "window must be a whole number, not 'soon'"),
        ("span=60", "unknown query parameter 'span'; use window (seconds)"),
    ],
)
async def test_a_bad_window_is_refused(api: Served, query: str, message: str) -> None:
    body = await answer(await api.client.get(f"/stats?{query}"), 400)
    assert body["error"]["message"] == message


def test_buckets_stay_few_whatever_the_window() -> None:
    assert [bucket_for(window) for window in (60, 3600, 7200, 86_400, 2_592_000)] == [
        60,
        60,
        60,
        900,
        21_600,
    ]
    assert all(window / bucket_for(window) <= 120 for window in (60, 7201, 86_400, 604_800))


async def test_the_list_searches_by_text_id_and_time(api: Served) -> None:
    declined = await api.submit("fail", {"message": "Card DECLINED 100%_off"})
    other = await api.submit("noop")
    for task in (declined, other):
        await api.finished(task["id"])
    found = await answer(await api.client.get("/tasks?q=declined 100%_"), 200)
    assert [task["id"] for task in found["tasks"]] == [declined["id"]]
    prefix = other["id"][:6].upper()
    found = await answer(await api.client.get(f"/tasks?id={prefix}"), 200)
    assert [task["id"] for task in found["tasks"]] == [other["id"]]
    since = declined["created_at"]
    found = await answer(await api.client.get("/tasks", query_string={"since": since}), 200)
    assert {task["id"] for task in found["tasks"]} == {declined["id"], other["id"]}
    found = await answer(await api.client.get("/tasks", query_string={"until": since}), 200)
    assert found["tasks"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"id": "xyz"}, "id is the start of a task id: 1 to 32 hex digits, not 'xyz'"),
        ({"q": "x" * 201}, "q is at most 200 characters, not 201"),
        ({"since": "yesterday"}, "since must be an ISO 8601 date and time with its UTC offset"),
        ({"until": "2030-01-01T00:00:00"}, "until must carry its UTC offset"),
    ],
)
async def test_a_bad_search_is_refused(api: Served, query: dict[str, str], message: str) -> None:
    body = await answer(await api.client.get("/tasks", query_string=query), 400)
    assert body["error"]["message"].startswith(message)


async def test_any_text_and_a_lowercase_moment_are_searched(api: Served) -> None:
    for query in ({"q": "a\tb\x00"}, {"since": "2030-01-01t00:00:00z"}, {"q": "%ED%A0%80"}):
        found = await answer(await api.client.get("/tasks", query_string=query), 200)
        assert found["tasks"] == []
