"""The example app's ``/start_task``, in Flask: a WSGI view submits, a worker process runs.

Serve it from the clone's root (the example app's tasks are importable from there)::

    gunicorn --threads 8 -b 127.0.0.1:5000 examples.flask.app:app

and run the tasks with ``quart --app "quart_app:create_app()" tasks worker``, its
``QUART_TASKS_DATABASE`` the same store as ``TASKS_DATABASE`` here (see README.md).

On PostgreSQL, ``POST /orders`` also shows a task submitted inside the view's own database
transaction, through a SQLAlchemy session (``orders.py``).
"""

from __future__ import annotations

import os

from flask import Flask, request, url_for

from quart_app.jobs import registry, sleep
from tasks import InvalidArguments, Producer, TaskNotFound

DATABASE = os.environ.get("TASKS_DATABASE", "instance/tasks.sqlite3")

app = Flask(__name__)

# One producer for the process, shared by every thread: it stores tasks, and never runs them.
producer = Producer(registry, database=DATABASE)


@app.get("/start_task")
def start_task():
    """Answer at once; a worker sleeps ``value`` seconds (20 if not given)."""
    try:
        # checked as the task's signature says, a number from 0 to 86400, before it is stored
        record = producer.submit(sleep, seconds=request.args.get("value", "20"))
    except InvalidArguments as exc:
        return error(exc), 400
    body = {"status": "started", "task": record.to_dict()}
    return body, 202, {"Location": url_for("task_status", task_id=record.id)}


@app.get("/tasks/<task_id>")
def task_status(task_id: str):
    """The task's record as stored now: state, progress, result or error."""
    try:
        return producer.get(task_id).to_dict()
    except TaskNotFound as exc:
        return error(exc), 404


def error(exc: InvalidArguments | TaskNotFound) -> dict[str, dict[str, str]]:
    return {"error": {"code": exc.code, "message": str(exc)}}


if DATABASE.startswith("postgresql://"):  # a view that submits in its own transaction
    from .orders import order_views

    app.register_blueprint(order_views(producer, DATABASE))
