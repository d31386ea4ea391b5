"""Quart + taskiq: ``POST /tasks/noop`` kicks a no-op task; its result goes to the backend.

Web: ``hypercorn "bench.apps.taskiq_app:create_app()"``. Worker: ``taskiq worker
bench.apps.taskiq_app:broker`` with taskiq's defaults (2 worker processes). taskiq-redis's
``RedisStreamBroker`` (Redis Streams, acknowledged when the result is saved) and
``RedisAsyncResultBackend``: ``BENCH_REDIS_URL``, default database 13.
"""

from __future__ import annotations

import os

from quart import Quart, Response, jsonify, request
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")

broker = RedisStreamBroker(REDIS_URL).with_result_backend(RedisAsyncResultBackend(REDIS_URL))


@broker.task(task_name="noop")
async def noop() -> None:
    return None


def create_app() -> Quart:
    app = Quart(__name__)

    @app.before_serving
    async def start_broker() -> None:
        await broker.startup()

    @app.after_serving
    async def stop_broker() -> None:
        await broker.shutdown()

    @app.get("/healthz")
    async def healthz() -> Response:
        return jsonify(status="ok")

    @app.post("/tasks/noop")
    async def submit() -> tuple[Response, int]:
        await request.get_json(force=True, silent=True)
        task = await noop.kiq()
        return jsonify(id=task.task_id), 202

    return app
