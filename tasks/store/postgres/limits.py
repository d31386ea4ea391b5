"""The PostgreSQL store's admission of limited starts (``tasks/limits.py``).

An admission runs inside a write batch's transaction (``batches.py``), after the lease of
its owner is renewed, as two statements:

- ``pg_advisory_xact_lock`` on a key of the task's name, held until the commit, so that the
  admissions of one name, in every process of every machine, run one after another (the
  counter row every write transaction locks first orders them too; the advisory lock keeps
  admissions right without relying on that);
- one statement that reads the task, counts, decides and writes, in a snapshot taken once
  the lock is held: so the count it reads and the start it writes are one step, and a batch
  holding admissions is still sent as one query (see :mod:`.session`), the server running it
  from the counter lock to the commit without waiting on this process.

A refused start writes nothing: unlike the other writes (see :data:`.batches.NUMBERS`), it
takes a number from the change counter, and notifies :data:`.batches.CHANNEL`, only if it
is admitted, so that the tasks held back by a limit, which ask again and again, neither
number nor announce changes that did not happen.

Times (the rate window, the leases of the running tasks' holders, and the ``started_at`` of
an admitted start, written into its JSON by the statement) are the database server's clock,
which every machine sharing it shares.
"""

from __future__ import annotations

import uuid
from typing import Any

from ... import codec
from ...limits import Admission, StartLimit
from ...records import State, TaskRecord
from .batches import CHANNEL, Later, Sequence
from .rows import COLUMNS, hold_lease, load
from .session import Session

__all__ = ["start_limited"]

#: the first key of the advisory locks of admissions (the second: a hash of the task's
#: name); two-key locks never meet the one-key lock of ``schema.py``
_LOCK_CLASS = 0x71746C6D  # "qtlm"
#: ``started_at`` as records write it (``2026-01-02T03:04:05.000006Z``), for ``to_char``
_ISO = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


async def start_limited(
    conn: Session,
    sequence: Sequence,
    *,
    record: TaskRecord,
    owner: str,
    lease: float,
    limit: StartLimit,
) -> Later:
    """Write the start ``record`` if ``owner`` holds its queued task and ``limit`` allows it;
    the :class:`~tasks.limits.Admission`, once the batch is sent."""
    await hold_lease(conn, sequence, owner, lease)
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s::integer, hashtext(%s))", (_LOCK_CLASS, record.name)
    )
    crowded, crowded_params = _crowded(record.name, limit)
    frees, frees_params = _frees(record.name, limit)
    counted, counted_params = _counted(record.name, limit)
    before, after = _around_started_at(record)
    cursor = await conn.execute(
        "WITH clock AS (SELECT extract(epoch from c.t)::float8 AS now, "
        f"to_char(c.t AT TIME ZONE 'UTC', '{_ISO}') AS iso FROM clock_timestamp() AS c(t)), "
        f"held AS (SELECT {COLUMNS} FROM quart_tasks WHERE id = %s AND owner = %s), "
        f"crowded AS ({crowded}), frees AS ({frees}), "
        # admitted: the task is queued and held by owner, and neither limit refuses it
        "admit AS (SELECT clock.now FROM clock, held WHERE held.state = 'queued' "
        "AND NOT EXISTS (SELECT FROM crowded) AND NOT EXISTS (SELECT FROM frees)), "
        f"{counted}numbers AS (UPDATE quart_tasks_store SET seq = seq + 1 FROM admit "
        "RETURNING seq), started AS (UPDATE quart_tasks t SET state = %s, seq = numbers.seq, "
        "data = %s || '\"' || clock.iso || '\"' || %s, limit_key = %s FROM numbers, clock "
        f"WHERE t.id = %s RETURNING t.data, pg_notify('{CHANNEL}', numbers.seq::text)) "
        "SELECT EXISTS (SELECT FROM crowded), (SELECT retry_in FROM frees), "
        "(SELECT data FROM started), held.* FROM held",
        (
            record.id,
            owner,
            *crowded_params,
            *frees_params,
            *counted_params,
            record.state.value,
            before,
            after,
            limit.key,
            record.id,
        ),
    )

    async def read() -> Admission:
        row = await cursor.fetchone()
        if row is None:
            return Admission(started=False, held=False)
        crowded, retry_in, written, *columns = row
        if columns[-1] != State.QUEUED.value:
            stored = load(*columns)
            started = _written_before(stored, record)
            return Admission(started=started, held=started, record=stored if started else None)
        if written is not None:
            _, holder, cancel_requested, task_id, name, _ = columns
            start = load(written, holder, cancel_requested, task_id, name, record.state.value)
            return Admission(started=True, record=start)
        return Admission(started=False, retry_in=None if crowded else float(retry_in))

    return Later(read)


#: a fragment of SQL and its parameters
_Part = tuple[str, tuple[Any, ...]]


def _crowded(name: str, limit: StartLimit) -> _Part:
    """A row if the concurrency limit refuses a start: as many of the group run, held by
    owners whose lease is live, as it allows."""
    if limit.concurrency is None:
        return "SELECT WHERE false", ()
    return (
        "SELECT FROM clock WHERE (SELECT count(*) FROM quart_tasks t "
        "JOIN quart_tasks_owners o ON o.owner = t.owner WHERE t.name = %s "
        "AND t.limit_key = %s AND t.state = 'running' AND o.lease_until >= clock.now) >= %s",
        (name, limit.key, limit.concurrency),
    )


def _frees(name: str, limit: StartLimit) -> _Part:
    """A row if the rate limit refuses a start, with the seconds until the window frees
    one: once the ``rate``-th newest start in it leaves (none if fewer are in it)."""
    if limit.rate is None:
        return "SELECT NULL::float8 AS retry_in WHERE false", ()
    return (
        "SELECT s.at + %s - clock.now AS retry_in FROM quart_tasks_starts s, clock "
        "WHERE s.name = %s AND s.at > clock.now - %s ORDER BY s.at DESC OFFSET %s LIMIT 1",
        (limit.period, name, limit.period, limit.rate - 1),
    )


def _counted(name: str, limit: StartLimit) -> _Part:
    """With a rate limit: forget the starts past the window, and count the admitted one."""
    if limit.rate is None:
        return "", ()
    return (
        "pruned AS (DELETE FROM quart_tasks_starts "
        "WHERE name = %s AND at <= (SELECT now FROM clock) - %s), "
        "counted AS (INSERT INTO quart_tasks_starts (name, at) SELECT %s, now FROM admit), ",
        (name, limit.period, name),
    )


def _around_started_at(record: TaskRecord) -> tuple[str, str]:
    """The JSON of ``record`` as :func:`~.rows.dump` writes it, in two parts: the moment of
    the admission, by the server's clock, goes between them as its ``started_at``."""
    data = record.to_dict()
    del data["owner"], data["cancel_requested"]
    while True:
        marker = f'"{uuid.uuid4().hex}"'  # found nowhere else in the text, as checked
        data["started_at"] = marker[1:-1]
        parts = codec.dumps(data).split(marker)
        if len(parts) == 2:
            return parts[0], parts[1]


def _written_before(stored: TaskRecord, start: TaskRecord) -> bool:
    """Whether ``stored`` is the start ``start`` itself, committed by an earlier call (its
    ``started_at`` is the moment of that admission)."""
    return stored.state is start.state and stored.attempts == start.attempts
