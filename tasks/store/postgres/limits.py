"""The PostgreSQL store's admission of limited starts (``tasks/limits.py``).

An admission runs inside a write batch's transaction (``batches.py``), after the lease of
its owner is renewed, as one call of the ``quart_tasks_admit`` function (created by
``schema.py``), which:

- takes ``pg_advisory_xact_lock`` on a key of the task's name, held until the commit, so
  that the admissions of one name, in every process of every machine, run one after another
  (the counter row every write transaction locks first orders them too; the advisory lock
  keeps admissions right without relying on that);
- then reads the task, counts, decides and writes, each statement seeing what committed
  before the lock was granted: so the count it reads and the start it writes are one step.

Being a PL/pgSQL function, it is planned once per connection rather than at each admission,
and a batch holding admissions is still sent as one query (see :mod:`.session`), the server
running it from the counter lock to the commit without waiting on this process.

A refused start writes nothing: unlike the other writes (see :data:`.batches.NUMBERS`), it
takes a number from the change counter, and notifies :data:`.batches.CHANNEL`, only if it
is admitted, so that the tasks held back by a limit, which ask again and again, neither
number nor announce changes that did not happen. An admitted start with a rate limit also
forgets the starts of its name that have left the window.

Times (the rate window, the leases of the running tasks' holders, and the ``started_at`` of
an admitted start, written into its JSON by the function) are the database server's clock,
which every machine sharing it shares.
"""

from __future__ import annotations

import uuid

from ... import codec
from ...limits import Admission, StartLimit
from ...records import State, TaskRecord
from .batches import Later, Sequence
from .rows import hold_lease, load
from .session import Session

__all__ = ["start_limited"]


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
    before, after = _around_started_at(record)
    cursor = await conn.execute(
        "SELECT * FROM quart_tasks_admit(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            record.id,
            owner,
            record.name,
            limit.key,
            limit.concurrency,
            limit.rate,
            limit.period,
            record.state.value,
            before,
            after,
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
