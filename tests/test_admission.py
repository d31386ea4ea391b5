"""A submission the runner would refuse is answered 503 before the app sees it."""

from __future__ import annotations

import asyncio

from quart import Quart, request

from quart_app.config import load_config
from tasks import Registry, Tasks
from tasks.web import blueprint, register_error_handlers
from tests.harness import serving


def app_seeing_requests(submit_prefix: str | None = "/tasks/") -> tuple[Quart, list[str]]:
    registry = Registry()
    release = asyncio.Event()

    @registry.task()
    async def hold() -> None:
        await release.wait()

    app = Quart(__name__)
    app.config.update(load_config({"TESTING": True, "TASKS_MAX_RUNNING": 1, "TASKS_MAX_QUEUED": 0}))
    Tasks(app, registry=registry, submit_prefix=submit_prefix)
    register_error_handlers(app)
    app.register_blueprint(blueprint)
    seen: list[str] = []

    @app.before_request
    async def note() -> None:
        seen.append(request.path)

    return app, seen


async def test_a_refused_submission_never_reaches_the_app() -> None:
    app, seen = app_seeing_requests()
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


async def test_without_a_prefix_the_view_refuses() -> None:
    app, seen = app_seeing_requests(submit_prefix=None)
    async with serving(app) as api:
        refused = await api.client.post("/tasks/hold", json={})
        assert refused.status_code == 503
        assert (await refused.get_json())["error"]["code"] == "queue_full"
    assert seen == ["/tasks/hold"]
