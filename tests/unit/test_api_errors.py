"""Bad input: each gets its status code and a JSON error that says what to fix, never a 500."""

from __future__ import annotations

import json
import random
import re
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import ServeFactory
from tests.harness import Served

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


async def error_of(response: Any) -> dict[str, str]:
    """The ``error`` member of a JSON error response, after checking its shape."""
    assert response.content_type == "application/json"
    body = await response.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message"}, error
    assert SNAKE_CASE.fullmatch(error["code"]), error
    assert isinstance(error["message"], str)
    assert len(error["message"]) > 10, error
    return error  # type: ignore[no-any-return]


async def nothing_was_stored(api: Served) -> None:
    listed = await (await api.client.get("/tasks")).get_json()
    assert listed == {"tasks": []}


BAD_BODIES = [
    # (task, body, status, code, words the message must contain)
    ("sleep", b'{"seconds": ', 400, "bad_request", ["not valid JSON", "line 1 column 13"]),
    ("sleep", b"{'seconds': 1}", 400, "bad_request", ["not valid JSON"]),
    ("sleep", b'{"seconds": 1} trailing', 400, "bad_request", ["not valid JSON"]),
    ("sleep", b"seconds=5", 400, "bad_request", ["not valid JSON"]),
    ("sleep", b"[1, 2]", 400, "bad_request", ["JSON object", "an array"]),
    ("sleep", b"[]", 400, "bad_request", ["JSON object", "an array"]),
    ("sleep", b'"seconds"', 400, "bad_request", ["JSON object", "a string"]),
    ("sleep", b"5", 400, "bad_request", ["JSON object", "a number"]),
    ("sleep", b"-0.5e3", 400, "bad_request", ["JSON object", "a number"]),
    ("sleep", b"true", 400, "bad_request", ["JSON object", "a boolean"]),
    ("sleep", b"null", 400, "bad_request", ["JSON object", "null"]),
    ("sleep", b'{"seconds": "\xff"}', 400, "bad_request", ["UTF-8"]),
    ("sleep", b"\xff\xfe{\x00}\x00", 400, "bad_request", ["UTF-8"]),
    ("sleep", '{"seconds": 1}'.encode("utf-16"), 400, "bad_request", ["UTF-8"]),
    ("sleep", b'{"seconds": NaN}', 400, "bad_request", ["NaN"]),
    ("sleep", b'{"seconds": -Infinity}', 400, "bad_request", ["-Infinity"]),
    ("sleep", b"[" * 50_000 + b"]" * 50_000, 400, "bad_request", ["nested too deeply"]),
    ("sleep", b'{"a":' * 20_000 + b"1" + b"}" * 20_000, 400, "bad_request", ["nested"]),
    ("sleep", b'{"seconds": 1' + b"0" * 5000 + b"}", 400, "bad_request", ["number too long"]),
    ("nope", b"{}", 404, "unknown_task", ["'nope'", "sleep", "count"]),
    ("sleep", b"{}", 422, "invalid_arguments", ["'seconds'", "required"]),
    ("sleep", b"", 422, "invalid_arguments", ["'seconds'", "required"]),
    ("sleep", b'{"seconds": "soon"}', 422, "invalid_arguments", ["'seconds'", "number"]),
    ("sleep", b'{"seconds": -1}', 422, "invalid_arguments", ["'seconds'", "greater than"]),
    ("sleep", b'{"seconds": 1e400}', 422, "invalid_arguments", ["'seconds'"]),
    ("sleep", b'{"seconds": 1, "x": 2}', 422, "invalid_arguments", ["'x'", "accepted: seconds"]),
    ("count", b'{"n": [1]}', 422, "invalid_arguments", ["'n'", "integer"]),
    ("count", b'{"n": 2.5}', 422, "invalid_arguments", ["'n'"]),
    ("count", b'{"n": 1, "interval": "fast"}', 422, "invalid_arguments", ["'interval'"]),
    ("count", b'{"interval": 1}', 422, "invalid_arguments", ["'n'", "required"]),
    ("fail", b'{"message": 3}', 422, "invalid_arguments", ["'message'", "string"]),
    ("noop", b'{"unexpected": true}', 422, "invalid_arguments", ["'unexpected'"]),
    ("export", b'{"rows": 0}', 422, "invalid_arguments", ["'rows'"]),
]


@pytest.mark.parametrize(("task", "body", "status", "code", "words"), BAD_BODIES)
async def test_a_bad_body_gets_its_status_and_a_clear_message(
    api: Served, task: str, body: bytes, status: int, code: str, words: list[str]
) -> None:
    response = await api.client.post(f"/tasks/{task}", data=body)

    assert response.status_code == status
    error = await error_of(response)
    assert error["code"] == code
    for word in words:
        assert word in error["message"], error["message"]
    await nothing_was_stored(api)


BAD_QUERIES = [
    # (method, path, status, code, words the message must contain)
    ("GET", "/tasks?state=bogus", 400, "bad_request", ["state", "queued", "'bogus'"]),
    ("GET", "/tasks?limit=0", 400, "bad_request", ["limit", "1 to 1000"]),
    ("GET", "/tasks?limit=1001", 400, "bad_request", ["limit", "1 to 1000"]),
    ("GET", "/tasks?limit=-5", 400, "bad_request", ["limit"]),
    ("GET", "/tasks?limit=abc", 400, "bad_request", ["limit", "whole number", "'abc'"]),
    ("GET", "/tasks?limit=2.5", 400, "bad_request", ["limit", "whole number"]),
    ("GET", "/tasks?colour=red", 400, "bad_request", ["'colour'", "state, name, limit"]),
    ("POST", "/tasks/noop?timeout=-1", 400, "bad_request", ["timeout", "above 0", "'-1'"]),
    ("POST", "/tasks/noop?timeout=0", 400, "bad_request", ["timeout", "above 0"]),
    ("POST", "/tasks/noop?timeout=abc", 400, "bad_request", ["timeout", "'abc'"]),
    ("POST", "/tasks/noop?timeout=nan", 400, "bad_request", ["timeout", "finite"]),
    ("POST", "/tasks/noop?timeout=inf", 400, "bad_request", ["timeout", "finite"]),
    ("POST", "/tasks/noop?retries=-1", 400, "bad_request", ["retries", "0 to 100"]),
    ("POST", "/tasks/noop?retries=101", 400, "bad_request", ["retries", "0 to 100"]),
    ("POST", "/tasks/noop?retries=abc", 400, "bad_request", ["retries", "whole number"]),
    ("POST", "/tasks/noop?retries=1.5", 400, "bad_request", ["retries", "whole number"]),
    ("POST", "/tasks/noop?seconds=5", 400, "bad_request", ["'seconds'", "JSON body"]),
    ("GET", "/start_task?value=abc", 422, "invalid_arguments", ["value", "0 to 86400", "'abc'"]),
    ("GET", "/start_task?value=-1", 422, "invalid_arguments", ["value", "0 to 86400", "'-1'"]),
    ("GET", "/start_task?value=86401", 422, "invalid_arguments", ["value", "0 to 86400"]),
    ("GET", "/start_task?value=nan", 422, "invalid_arguments", ["value"]),
    ("GET", "/start_task?value=", 422, "invalid_arguments", ["value"]),
    ("GET", "/start_task?value=1&seconds=2", 400, "bad_request", ["'seconds'", "value"]),
    ("GET", "/start_task?value=1&value=2", 400, "bad_request", ["'value'", "2 times"]),
    ("GET", "/tasks?limit=1&limit=2", 400, "bad_request", ["'limit'", "2 times"]),
    ("POST", "/tasks/noop?retries=1&retries=2", 400, "bad_request", ["'retries'", "once"]),
    ("GET", "/tasks/0123456789abcdef", 404, "task_not_found", ["'0123456789abcdef'"]),
    ("DELETE", "/tasks/0123456789abcdef", 404, "task_not_found", ["'0123456789abcdef'"]),
    ("GET", "/nowhere", 404, "not_found", ["no such endpoint"]),
    ("GET", "/tasks/a/b", 404, "not_found", ["no such endpoint"]),
    ("POST", "/tasks/", 404, "not_found", ["no such endpoint"]),
    ("PUT", "/tasks/sleep", 405, "method_not_allowed", ["PUT", "POST"]),
    ("POST", "/healthz", 405, "method_not_allowed", ["POST", "GET"]),
    ("DELETE", "/tasks", 405, "method_not_allowed", ["DELETE", "GET"]),
    ("POST", "/start_task", 405, "method_not_allowed", ["POST", "GET"]),
]


@pytest.mark.parametrize(("method", "path", "status", "code", "words"), BAD_QUERIES)
async def test_a_bad_request_line_gets_its_status_and_a_clear_message(
    api: Served, method: str, path: str, status: int, code: str, words: list[str]
) -> None:
    response = await api.client.open(path, method=method)

    assert response.status_code == status
    error = await error_of(response)
    assert error["code"] == code
    for word in words:
        assert word in error["message"], error["message"]
    await nothing_was_stored(api)


async def test_405_lists_the_allowed_methods(api: Served) -> None:
    response = await api.client.open("/healthz", method="PATCH")

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


async def test_empty_timeout_and_retries_mean_the_tasks_own(api: Served) -> None:
    record = await api.submit("noop", timeout="", retries="")

    assert record["timeout"] is None
    assert record["max_attempts"] == 1
    await api.runner.join()


async def test_a_body_over_max_content_length_is_413(serve: ServeFactory) -> None:
    async with serve(MAX_CONTENT_LENGTH=64) as api:
        fits = json.dumps({"message": "x" * 40}).encode()
        too_big = json.dumps({"message": "x" * 60}).encode()
        assert len(fits) <= 64 < len(too_big)

        refused = await api.client.post("/tasks/fail", data=too_big)
        accepted = await api.client.post("/tasks/fail", data=fits)

        assert refused.status_code == 413
        error = await error_of(refused)
        assert error["code"] == "request_entity_too_large"
        assert "64 bytes" in error["message"]
        assert "MAX_CONTENT_LENGTH" in error["message"]
        assert accepted.status_code == 202
        await api.runner.join()


async def test_a_body_that_never_ends_is_408_and_stores_nothing(serve: ServeFactory) -> None:
    async with serve(BODY_TIMEOUT=0.2) as api:
        async with api.client.request("/tasks/sleep", method="POST") as connection:
            await connection.send(b'{"seconds": ')  # and nothing more, never complete
            body = await connection.receive()  # the answer, once BODY_TIMEOUT has passed
            assert connection.status_code == 408
        error = json.loads(body)["error"]
        assert error["code"] == "request_timeout"
        assert error["message"]
        await nothing_was_stored(api)


async def test_an_error_before_the_body_is_read_closes_the_connection(
    serve: ServeFactory,
) -> None:
    async with serve(MAX_CONTENT_LENGTH=64) as api:

        async def send(method: str, path: str, body: bytes) -> Any:
            # As a real client does; Quart's test client leaves Content-Length out.
            length = {"Content-Length": str(len(body))} if body else {}
            return await api.client.open(path, method=method, data=body, headers=length)

        body = b'{"message": "' + b"x" * 40 + b'"}'
        unread = {
            "unknown task": await send("POST", "/tasks/nope", body),
            "wrong method": await send("PUT", "/tasks/fail", body),
            "no route": await send("POST", "/nowhere", body),
            "too large": await send("POST", "/tasks/fail", body * 2),
        }
        read = {
            "malformed": await send("POST", "/tasks/fail", body[:-1]),
            "wrong arguments": await send("POST", "/tasks/fail", b'{"message": 1}'),
            "accepted": await send("POST", "/tasks/fail", body),
            "no body": await send("GET", "/nowhere", b""),
        }
        await api.runner.join()

    assert {name: r.headers.get("Connection") for name, r in unread.items()} == dict.fromkeys(
        unread, "close"
    )
    assert {name: r.headers.get("Connection") for name, r in read.items()} == dict.fromkeys(read)


async def test_an_error_message_names_every_offending_argument(api: Served) -> None:
    response = await api.client.post("/tasks/count", json={"n": "many", "speed": 2})

    assert response.status_code == 422
    message = (await error_of(response))["message"]
    assert "'n'" in message
    assert "'speed'" in message
    assert "accepted: n, interval" in message


# -- fuzz-ish: odd input of every kind stays below 500 -----------------------------------------

ODD_REQUESTS = [
    ("POST", "/tasks/sleep", b"\x00"),
    ("POST", "/tasks/sleep", b"\xef\xbb\xbf"),
    ("POST", "/tasks/sleep", b'{"seconds": 1, "seconds": "x"}'),
    ("POST", "/tasks/sleep", b'{"": 1}'),
    ("POST", "/tasks/sleep", b'{"__class__": 1, "seconds": 0}'),
    ("POST", "/tasks/sleep", b'{"model_config": 1, "seconds": 0}'),
    ("POST", "/tasks/sleep", b'{"seconds": "\\ud800"}'),
    ("POST", "/tasks/sleep", b'{"seconds": {"$gt": 0}}'),
    ("POST", "/tasks/sleep", b'{"seconds": 1e-400}' + b" " * 1000 + b"x"),
    ("POST", "/tasks/count", b'{"n": 99999999999999999999999999999}'),
    ("POST", "/tasks/count", b'{"n": -1}'),
    ("POST", "/tasks/count", b'{"n": "0x10"}'),
    ("POST", "/tasks/fail", b'{"message": ' + b'"\\u0000' * 10 + b'"}'),
    ("POST", "/tasks/%00", b"{}"),
    ("POST", "/tasks/" + quote("é" * 300), b"{}"),
    ("POST", "/tasks/sleep%2F..%2Fcount", b"{}"),
    ("POST", "/tasks/sleep?timeout=1e309", b'{"seconds": 0}'),
    ("POST", "/tasks/sleep?retries=99999999999999999999", b'{"seconds": 0}'),
    ("POST", "/tasks/sleep?timeout=%ff", b'{"seconds": 0}'),
    ("POST", "/tasks/sleep?timeout=1&timeout=x", b'{"seconds": 0}'),
    ("GET", "/tasks/%ff%fe", b""),
    ("GET", "/tasks/" + "a" * 5000, b""),
    ("DELETE", "/tasks/'%20OR%201=1--", b""),
    ("GET", "/tasks?state=RUNNING", b""),
    ("GET", "/tasks?limit=%00", b""),
    ("GET", "/tasks?limit=1e3", b""),
    ("GET", "/start_task?value=1e999", b""),
    ("GET", "/start_task?value=%ff", b""),
    ("PATCH", "/tasks/abc", b"{}"),
    ("TRACE", "/healthz", b""),
    ("GET", "/" + "x/" * 200, b""),
]


@pytest.mark.parametrize(("method", "path", "body"), ODD_REQUESTS)
async def test_odd_requests_get_a_json_client_error(
    api: Served, method: str, path: str, body: bytes
) -> None:
    response = await api.client.open(path, method=method, data=body)

    assert 400 <= response.status_code < 500
    await error_of(response)
    await nothing_was_stored(api)


def mutations(seed: bytes, count: int, rng: random.Random) -> list[bytes]:
    """``count`` variants of ``seed`` with bytes flipped, inserted, dropped or cut."""
    alphabet = b'{}[]":,.-+eE0123456789 \t\n\\untfalsNI\xff\x00\xc3'
    variants = []
    for _ in range(count):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(data) + 1)
            action = rng.choice(("flip", "insert", "drop", "cut"))
            if action == "flip" and where < len(data):
                data[where] = rng.choice(alphabet)
            elif action == "insert":
                data[where:where] = bytes([rng.choice(alphabet)])
            elif action == "drop" and where < len(data):
                del data[where]
            elif action == "cut":
                del data[where:]
        variants.append(bytes(data))
    return variants


async def test_mutated_bodies_never_produce_a_server_error(api: Served) -> None:
    seed = b'{"n": 2, "interval": 0.5, "list": [1, "two", null, true], "map": {"k": "\\u00e9"}}'
    statuses: set[int] = set()
    for body in mutations(seed, 400, random.Random(20261121)):
        response = await api.client.post("/tasks/count", data=body)
        statuses.add(response.status_code)
        assert response.status_code < 500, body
        if response.status_code == 202:  # the mutation happened to fit: stop it at once
            task_id = (await response.get_json())["id"]
            await api.client.delete(f"/tasks/{task_id}")
        else:
            await error_of(response)
    await api.runner.join()
    assert {400, 422} <= statuses
