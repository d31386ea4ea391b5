"""Flask + Celery 5: ``POST /tasks/noop`` sends a no-op task; its result goes to the backend.

Web: ``gunicorn bench.apps.celery_app:app`` (one sync worker, gunicorn's default). Worker:
``celery -A bench.apps.celery_app:celery worker`` with Celery's defaults (prefork pool, one
process per CPU). Redis is both the broker and the result backend: ``BENCH_REDIS_URL``,
default database 12.
"""

from __future__ import annotations

import os

from celery import Celery  # type: ignore[import-untyped]
from flask import Flask, Response, jsonify, request

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

celery = Celery("bench_celery", broker=REDIS_URL, backend=REDIS_URL)


@celery.task(name="noop")  # type: ignore[untyped-decorator]
def noop() -> None:
    return None


app = Flask(__name__)


@app.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@app.post("/tasks/noop")
def submit() -> tuple[Response, int]:
    request.get_json(force=True, silent=True)
    result = noop.delay()
    return jsonify(id=result.id), 202
