"""Flask + RQ: ``POST /tasks/noop`` enqueues a no-op job; RQ keeps its result (500 s by default).

Web: ``gunicorn bench.apps.rq_app:app`` (one sync worker, gunicorn's default). Worker:
``rq worker -c bench.apps.rq_app``: this module is also the worker's settings module (its
``REDIS_URL``), so the worker imports the job's module once and every work horse it forks
inherits it, as RQ's documentation advises, instead of importing it again for every job.
Redis is ``BENCH_REDIS_URL``, default database 11.
"""

from __future__ import annotations

import os

from flask import Flask, Response, jsonify, request
from redis import Redis
from rq import Queue

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


def noop() -> None:
    return None


app = Flask(__name__)
queue = Queue(connection=Redis.from_url(REDIS_URL))


@app.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@app.post("/tasks/noop")
def submit() -> tuple[Response, int]:
    request.get_json(force=True, silent=True)
    job = queue.enqueue(noop)
    return jsonify(id=job.id), 202
