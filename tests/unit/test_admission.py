"""A submission the runner would refuse is answered 503 before the app sees it, if the
blueprint's guard would let it through; its body is read within bounds, or left unread."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypercorn.typing import ASGIReceiveEvent, ASGISendEvent, HTTPScope
from quart import Quart, request

from quart_app.config import load_config
from tasks import Registry, Tasks
from tasks.web import blueprint, register_error_handlers
from tests.harness import WAIT, serving

TOKEN = "correct horse battery staple"


def app_seeing_requests(
    folder: Path, submit_prefix: str | None = "/tasks/", **config: Any
) -> tuple[Quart, list[str]]:
    """An app whose one slot is taken and whose queue holds nothing, its store in ``folder``."""
    registry = Registry()
    release = asyncio.Event()

    @registry.task()
    async def hold() -> None:
        await release.wait()

    app = Quart(__name__)
    app.config.update(
        load_config(
            {
                "TESTING": True,
                "TASKS_DATABASE": str(folder / "tasks.sqlite3"),  # not the checkout's instance
                "TASKS_MAX_RUNNING": 1,
                "TASKS_MAX_QUEUED": 0,
                **config,
            }
        )
    )
    Tasks(app, registry=registry, submit_prefix=submit_prefix)
    register_error_handlers(app)
    app.register_blueprint(blueprint)
    seen: list[str] = []

    @app.before_request
    async def note() -> None:
        seen.append(request.path)

    return app, seen


async def test_a_refused_submission_never_reaches_the_app(tmp_path: Path) -> None:
    app, seen = app_seeing_requests(tmp_path)
    async with serving(app) as api:
        refused = await api.client.post("/tasks/hold", json={})
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert "Connection" not in refused.headers  # the body was read: the connection stays
        error = (await refused.get_json())["error"]
        assert error["code"] == "queue_full"
        assert "TASKS_MAX_QUEUED" in error["message"]
        unknown = await api.client.post("/tasks/nothing-of-that-name", json={})
        assert unknown.status_code == 404
    assert seen == ["/tasks/nothing-of-that-name"]


async def test_without_a_prefix_the_view_refuses(tmp_path: Path) -> None:
    app, seen = app_seeing_requests(tmp_path, submit_prefix=None)
    async with serving(app) as api:
        refused = await api.client.post("/tasks/hold", json={})
        assert refused.status_code == 503
        assert (await refused.get_json())["error"]["code"] == "queue_full"
    assert seen == ["/tasks/hold"]


@pytest.mark.parametrize(
    ("options", "status", "code"),
    [
        ({"scope_base": {"client": ("192.0.2.10", 40000)}}, 403, "remote_access_refused"),
        ({"headers": {"X-Real-IP": "192.0.2.10"}}, 403, "remote_access_refused"),
        ({"headers": {"Host": "evil.example"}}, 400, "host_not_allowed"),
        ({"headers": {"Origin": "http://evil.example"}}, 403, "cross_site_request"),
        ({"headers": {"Sec-Fetch-Site": "cross-site"}}, 403, "cross_site_request"),
    ],
)
async def test_a_caller_the_guard_refuses_learns_nothing_of_the_queue(
    options: dict[str, Any], status: int, code: str, tmp_path: Path
) -> None:
    app, seen = app_seeing_requests(tmp_path)
    async with serving(app) as api:
        response = await api.client.post("/tasks/hold", json={}, **options)
        assert response.status_code == status
        assert (await response.get_json())["error"]["code"] == code
    assert seen == ["/tasks/hold"]  # answered by the app's own checks


async def test_with_a_token_only_a_caller_with_it_gets_the_cheap_refusal(tmp_path: Path) -> None:
    app, seen = app_seeing_requests(tmp_path, TASKS_API_TOKEN=TOKEN)
    async with serving(app) as api:
        anonymous = await api.client.post("/tasks/hold", json={})
        assert anonymous.status_code == 401
        unknown = await api.client.post("/tasks/nothing-of-that-name", json={})
        assert unknown.status_code == 401  # the same answer: no task name is revealed
        auth = {"Authorization": f"Bearer {TOKEN}"}
        refused = await api.client.post("/tasks/hold", json={}, headers=auth)
        assert refused.status_code == 503
        assert (await refused.get_json())["error"]["code"] == "queue_full"
    assert seen == ["/tasks/hold", "/tasks/nothing-of-that-name"]


async def test_a_body_over_max_content_length_is_left_to_the_app(tmp_path: Path) -> None:
    app, seen = app_seeing_requests(tmp_path, MAX_CONTENT_LENGTH=1000)
    async with serving(app) as api:
        response = await api.client.post(
            "/tasks/hold", data=b"x" * 1001, headers={"Content-Length": "1001"}
        )
        assert response.status_code == 413
    assert seen == ["/tasks/hold"]


def submission(*headers: tuple[bytes, bytes]) -> HTTPScope:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.1"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/tasks/hold",
        "raw_path": b"/tasks/hold",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }
    return scope  # type: ignore[return-value]


async def answer_to(app: Quart, scope: HTTPScope, body: list[ASGIReceiveEvent]) -> dict[str, Any]:
    """Call the app's ASGI callable; ``body`` is handed out, then the body never goes on."""
    sent: list[ASGISendEvent] = []
    stalled = asyncio.Event()

    async def receive() -> ASGIReceiveEvent:
        await asyncio.sleep(0)  # a real receive gives the loop a turn
        if body:
            return body.pop(0)
        await stalled.wait()  # the client sends nothing more
        raise AssertionError("unreachable")

    async def send(message: ASGISendEvent) -> None:
        sent.append(message)

    async with asyncio.timeout(WAIT):
        await app.asgi_app(scope, receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start"
    return {"status": start["status"], "headers": dict(start["headers"])}


async def test_a_body_that_stops_arriving_is_given_up_after_body_timeout(tmp_path: Path) -> None:
    app, _ = app_seeing_requests(tmp_path, BODY_TIMEOUT=0.05)
    async with serving(app):
        chunk: ASGIReceiveEvent = {"type": "http.request", "body": b"x", "more_body": True}
        answer = await answer_to(app, submission((b"content-length", b"1000")), [chunk])
    assert answer["status"] == 503
    assert answer["headers"][b"connection"] == b"close"


async def test_a_body_without_a_length_is_read_only_up_to_max_content_length(
    tmp_path: Path,
) -> None:
    app, _ = app_seeing_requests(tmp_path, MAX_CONTENT_LENGTH=10_000)
    chunks: list[ASGIReceiveEvent] = [
        {"type": "http.request", "body": b"x" * 1000, "more_body": True} for _ in range(1000)
    ]
    async with serving(app):
        answer = await answer_to(app, submission((b"transfer-encoding", b"chunked")), chunks)
    assert answer["status"] == 503
    assert answer["headers"][b"connection"] == b"close"
    assert len(chunks) >= 1000 - 11  # read no further than the limit


async def test_a_body_read_to_its_end_keeps_the_connection(tmp_path: Path) -> None:
    app, _ = app_seeing_requests(tmp_path)
    async with serving(app):
        whole: ASGIReceiveEvent = {"type": "http.request", "body": b"{}", "more_body": False}
        answer = await answer_to(app, submission((b"content-length", b"2")), [whole])
    assert answer["status"] == 503
    assert b"connection" not in answer["headers"]


async def test_the_refusal_follows_the_blueprint_s_mount_and_either_order(
    tmp_path: Path,
) -> None:
    registry = Registry()

    @registry.task()
    async def hold() -> None: ...

    app = Quart(__name__)
    app.config.update(
        load_config(
            {
                "TESTING": True,
                "TASKS_DATABASE": str(tmp_path / "tasks.sqlite3"),
                "TASKS_MAX_QUEUED": 0,
            }
        )
    )
    app.register_blueprint(blueprint, url_prefix="/jobs")  # before the extension
    Tasks(app, registry=registry)
    register_error_handlers(app)
    seen: list[str] = []

    @app.before_request
    async def note() -> None:
        seen.append(request.path)

    async with serving(app) as api:
        refused = await api.client.post("/jobs/tasks/hold", json={})
        assert refused.status_code == 503
        assert (await refused.get_json())["error"]["code"] == "queue_full"
        elsewhere = await api.client.post("/tasks/hold", json={})
        assert elsewhere.status_code == 404  # not a submission URL of this mount
    assert seen == ["/tasks/hold"]
