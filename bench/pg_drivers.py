"""asyncpg against psycopg 3 (with its pool) on the PostgreSQL store's own kind of workload.

Each driver, through a pool of ``POOL`` connections, runs ``CLIENTS`` concurrent clients that
insert single rows (one commit each, as a task's creation is), then claims them ten at a time
with ``FOR UPDATE SKIP LOCKED``. Run with ``python -m bench.pg_drivers [URL]``; it creates and
drops a database of its own on the server the URL names (default: 127.0.0.1, user postgres).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

CLIENTS, POOL, ROWS = 16, 8, 4000

SCHEMA = (
    "CREATE TABLE t (id text PRIMARY KEY, owner text, seq bigserial, data text NOT NULL)",
    "CREATE INDEX t_owner ON t (owner)",
)
INSERT = "INSERT INTO t (id, data) VALUES ($1, $2)"
CLAIM = (
    "UPDATE t SET owner = $1 WHERE id IN (SELECT id FROM t WHERE owner IS NULL "
    "ORDER BY seq LIMIT 10 FOR UPDATE SKIP LOCKED) RETURNING id"
)


async def _clients(count: int, work: Callable[[int], Awaitable[int]]) -> tuple[float, int]:
    started = time.perf_counter()
    done = await asyncio.gather(*(work(client) for client in range(count)))
    return time.perf_counter() - started, sum(done)


async def run_asyncpg(url: str) -> dict[str, float]:
    import asyncpg

    pool: Any = await asyncpg.create_pool(url, min_size=POOL, max_size=POOL)
    async with pool.acquire() as conn:
        for statement in SCHEMA:
            await conn.execute(statement)

    async def insert(client: int) -> int:
        for _ in range(ROWS // CLIENTS):
            async with pool.acquire() as conn:
                await conn.execute(INSERT, uuid.uuid4().hex, "{}")
        return ROWS // CLIENTS

    async def claim(client: int) -> int:
        taken = 0
        while True:
            async with pool.acquire() as conn:
                rows = await conn.fetch(CLAIM, f"owner-{client}")
            if not rows:
                return taken
            taken += len(rows)

    inserted = await _clients(CLIENTS, insert)
    claimed = await _clients(CLIENTS, claim)
    await pool.close()
    return _rates(inserted, claimed)


async def run_psycopg(url: str) -> dict[str, float]:
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(url, min_size=POOL, max_size=POOL, open=False)
    await pool.open()
    async with pool.connection() as conn:
        for statement in SCHEMA:
            await conn.execute(statement)
    insert_sql = INSERT.replace("$1", "%s").replace("$2", "%s")
    claim_sql = CLAIM.replace("$1", "%s")

    async def insert(client: int) -> int:
        for _ in range(ROWS // CLIENTS):
            async with pool.connection() as conn:
                await conn.execute(insert_sql, (uuid.uuid4().hex, "{}"))
        return ROWS // CLIENTS

    async def claim(client: int) -> int:
        taken = 0
        while True:
            async with pool.connection() as conn:
                rows = await (await conn.execute(claim_sql, (f"owner-{client}",))).fetchall()
            if not rows:
                return taken
            taken += len(rows)

    inserted = await _clients(CLIENTS, insert)
    claimed = await _clients(CLIENTS, claim)
    await pool.close()
    return _rates(inserted, claimed)


def _rates(inserted: tuple[float, int], claimed: tuple[float, int]) -> dict[str, float]:
    (insert_s, rows), (claim_s, taken) = inserted, claimed
    assert taken == rows, f"claimed {taken} of {rows} rows"
    return {"inserts/s": rows / insert_s, "claimed rows/s": taken / claim_s}


async def _with_database(server: str, run: Callable[[str], Awaitable[dict[str, float]]]) -> Any:
    import asyncpg

    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin: Any = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return await run(f"{server}/{name}")
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def main(server: str) -> None:
    print(f"{CLIENTS} clients, pool of {POOL}, {ROWS} rows")
    for name, run in (("asyncpg", run_asyncpg), ("psycopg", run_psycopg)):
        rates = await _with_database(server, run)
        print(f"{name:8}", "  ".join(f"{key} {value:8.0f}" for key, value in rates.items()))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432"))
