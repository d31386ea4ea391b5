"""The HTTP client: requests it sends, and how it turns answers and failures into errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tasks import (
    InvalidArguments,
    QueueFull,
    State,
    TaskAlreadyFinished,
    TaskNotFound,
    TaskRecord,
    TasksError,
    UnknownTask,
)
from tasks.client import ApiError, ServerUnreachable, TasksClient, check_url

Handler = Callable[[httpx.Request], httpx.Response]
RECORD = TaskRecord.new("count", {"n": 3})


def client_for(handler: Handler) -> TasksClient:
    return TasksClient("http://tasks.test:8000/", transport=httpx.MockTransport(handler))


def error(status: int, code: str, message: str = "what to fix") -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


async def test_submit_sends_the_arguments_and_options() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json=RECORD.to_dict())

    async with client_for(handler) as client:
        record = await client.submit("count", {"n": 3}, timeout=2.5, retries=1, priority=-3)

    assert record == RECORD
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/tasks/count")
    assert dict(request.url.params) == {"timeout": "2.5", "retries": "1", "priority": "-3"}
    assert json.loads(request.content) == {"n": 3}


async def test_names_and_ids_are_quoted_into_one_path_segment() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return error(404, "task_not_found")

    async with client_for(handler) as client:
        with pytest.raises(TaskNotFound):
            await client.get("../healthz")

    assert paths == ["/tasks/..%2Fhealthz"]


async def test_query_sends_the_filters() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert dict(request.url.params) == {"limit": "5", "state": "running", "name": "count"}
        return httpx.Response(200, json={"tasks": [RECORD.to_dict()]})

    async with client_for(handler) as client:
        assert await client.query(state=State.RUNNING, name="count", limit=5) == [RECORD]


@pytest.mark.parametrize(
    ("response", "raised"),
    [
        (error(404, "unknown_task"), UnknownTask),
        (error(404, "task_not_found"), TaskNotFound),
        (error(422, "invalid_arguments"), InvalidArguments),
        (error(409, "task_finished"), TaskAlreadyFinished),
        (error(503, "queue_full"), QueueFull),
    ],
)
async def test_error_answers_become_the_matching_error(
    response: httpx.Response, raised: type[TasksError]
) -> None:
    async with client_for(lambda request: response) as client:
        with pytest.raises(raised, match="what to fix"):
            await client.cancel("abc")


async def test_an_unknown_error_code_keeps_its_code_and_status() -> None:
    async with client_for(lambda request: error(413, "request_entity_too_large")) as client:
        with pytest.raises(ApiError) as raised:
            await client.submit("count", {"n": 1})
    assert (raised.value.code, raised.value.status) == ("request_entity_too_large", 413)


async def test_an_answer_that_is_not_the_api_says_to_check_the_url() -> None:
    async with client_for(lambda request: httpx.Response(200, text="<html>")) as client:
        with pytest.raises(ApiError, match="without the tasks API's JSON") as raised:
            await client.names()
    assert raised.value.code == "not_a_tasks_server"


async def test_a_refused_connection_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with client_for(refuse) as client:
        with pytest.raises(ServerUnreachable, match=r"cannot reach .* \(connection refused\)"):
            await client.names()


async def test_a_silent_server_is_unreachable() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with client_for(hang) as client:
        with pytest.raises(ServerUnreachable, match="did not answer within 10 s"):
            await client.get("abc")


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://host", "http://", "nonsense"])
def test_urls_must_name_an_http_server(url: str) -> None:
    with pytest.raises(ValueError, match=r"use http://host:port|is not a URL"):
        check_url(url)


def test_a_trailing_slash_is_dropped() -> None:
    assert check_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
