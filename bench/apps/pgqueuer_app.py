"""Quart + PgQueuer: ``POST /tasks/noop`` enqueues a no-op job in PgQueuer's queue table.

Web: ``hypercorn "bench.apps.pgqueuer_app:create_app()"``, enqueueing through an asyncpg pool
(``Queries(AsyncpgPoolDriver(pool))``, as in PgQueuer's web framework example). Worker:
``pgq run bench.apps.pgqueuer_app:main`` with PgQueuer's defaults (one process, batches of 10,
woken by ``LISTEN/NOTIFY``) over one asyncpg connection, as in its quick start. The schema
comes from ``pgq install``, with its defaults (every table logged). Both use the database of
``BENCH_POSTGRES_URL``; a job is finished once the worker has logged it in ``pgqueuer_log``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]
from pgqueuer import AsyncpgPoolDriver, Job, PgQueuer, Queries
from quart import Quart, Response, jsonify, request

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ENTRYPOINT = "noop"


@asynccontextmanager
async def main() -> AsyncIterator[PgQueuer]:
    """The worker's factory for ``pgq run``: one connection, one no-op entrypoint."""
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        pgq = PgQueuer.from_asyncpg_connection(connection)

        @pgq.entrypoint(ENTRYPOINT)
        async def noop(job: Job) -> None:
            return None

        yield pgq
    finally:
        if not connection.is_closed():
            await connection.close()


def create_app() -> Quart:
    app = Quart(__name__)
    pools: list[asyncpg.Pool] = []  # the one pool, once serving
    queries: list[Queries] = []

    @app.before_serving
    async def open_pool() -> None:
        pools.append(await asyncpg.create_pool(POSTGRES_URL))
        queries.append(Queries(AsyncpgPoolDriver(pools[0])))

    @app.after_serving
    async def close_pool() -> None:
        for pool in pools:
            await pool.close()

    @app.get("/healthz")
    async def healthz() -> Response:
        return jsonify(status="ok")

    @app.post("/tasks/noop")
    async def submit() -> tuple[Response, int]:
        await request.get_json(force=True, silent=True)
        (job_id,) = await queries[0].enqueue(ENTRYPOINT, None)
        return jsonify(id=job_id), 202

    return app
