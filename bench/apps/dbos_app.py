"""Quart + DBOS Transact: ``POST /tasks/noop`` enqueues a no-op workflow on a DBOS queue.

DBOS's queue-worker pattern: the web server does not run DBOS itself; it enqueues with a
``DBOSClient`` (``enqueue_async``) connected to the system database. Web: ``hypercorn
"bench.apps.dbos_app:create_app()"``. Worker: ``python -m bench.apps.dbos_app``, which
configures DBOS (only a name and the system database), calls ``DBOS.launch()`` (it creates
DBOS's tables), registers the queue with ``DBOS.register_queue`` and waits while DBOS's
threads dequeue and run the workflows, with DBOS's defaults (the queue polled every second,
no concurrency limit). The system database is ``BENCH_POSTGRES_URL``; a task is finished
once its row in ``dbos.workflow_status`` says ``SUCCESS``.
"""

from __future__ import annotations

import os
import threading

from dbos import DBOS, DBOSClient, DBOSConfig, EnqueueOptions, WorkflowHandleAsync
from quart import Quart, Response, jsonify, request

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
APP_NAME = "bench-dbos"
QUEUE = "noop"
WORKFLOW = "noop"


@DBOS.workflow(name=WORKFLOW)
def noop() -> None:
    return None


def worker() -> None:
    """Launch DBOS on the system database, register the queue, and run its workflows."""
    config: DBOSConfig = {"name": APP_NAME, "system_database_url": POSTGRES_URL}
    DBOS(config=config)
    DBOS.launch()
    DBOS.register_queue(QUEUE)
    threading.Event().wait()  # DBOS's own threads dequeue and run the workflows


def create_app() -> Quart:
    app = Quart(__name__)
    clients: list[DBOSClient] = []  # the one client, once serving
    options: EnqueueOptions = {"queue_name": QUEUE, "workflow_name": WORKFLOW}

    @app.before_serving
    async def connect() -> None:
        clients.append(DBOSClient(system_database_url=POSTGRES_URL))

    @app.after_serving
    async def disconnect() -> None:
        for client in clients:
            client.destroy()

    @app.get("/healthz")
    async def healthz() -> Response:
        return jsonify(status="ok")

    @app.post("/tasks/noop")
    async def submit() -> tuple[Response, int]:
        await request.get_json(force=True, silent=True)
        handle: WorkflowHandleAsync[None] = await clients[0].enqueue_async(options)
        return jsonify(id=handle.get_workflow_id()), 202

    return app


if __name__ == "__main__":
    worker()
