"""Storing a task inside the caller's own transaction, so that it exists exactly when the
caller's other writes do: not at all if they roll back, and visible to workers only once
they commit.

The insert runs on the caller's connection and takes no lock that other writers wait for.
The store's own writes number their rows from the change counter, whose row lock they hold
to their commit (see ``batches.py``); a caller's transaction may stay open for as long as
it likes, so its row gets a placeholder instead: minus its position, below every number.
Until it is numbered the record reads like any other (``get``, lists, claims), and only
the change feed has not shown it. The first write of any process that numbers new rows
(``quart_tasks_number_new``, under the counter lock) gives it its number: every claim
does, and so does every process following changes, on hearing the commit's notification
(:data:`NEW`), so that event streams show it at once.

An idempotency key is the one thing a caller's open transaction could make others wait
for: PostgreSQL makes a second insert of a key wait for the transaction that inserted it
first. So the caller's transaction also takes an advisory lock on the key, held to its
end, and the store's own inserts only try that lock (``rows.py``): they answer
:class:`~tasks.IdempotencyKeyInUse` at once rather than wait, holding the counter lock,
for a transaction that may stay open for minutes.

A connection to the database of another store is refused before anything is written or
locked there: the key's lock and the insert happen only where the store's random identity
(the constant ``quart_tasks_store_id()`` returns) is the one this process's store read when
it first reached its database. A constant function rather than a row: reading the store's
row, which every write of the store updates, would make a caller's serializable transaction
conflict with the store's writes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from ...errors import InvalidOptions
from ...records import TaskRecord
from .batches import CHANNEL, WORK_CHANNEL, Sequence
from .rows import COLUMNS, KEY_LOCK_CLASS, dump, load
from .session import Session

__all__ = [
    "NEW",
    "NUMBER_AT_ONCE",
    "NUMBER_NEW",
    "STORE_ID",
    "Elsewhere",
    "Here",
    "create_in",
    "create_in_sync",
    "number_new",
    "wrong_connection",
]

#: the payload of the change notification a caller's commit sends: rows to number
NEW = "new"
#: rows numbered by one statement
NUMBER_AT_ONCE = 1000

# Numbers the rows that callers' transactions committed with a placeholder, in the order
# they were created, a thousand per statement; returns how many. Each statement reads and
# numbers its rows, so that a row committed meanwhile is numbered next, never twice. Both
# reads go down the index on ``seq`` from 0 whatever the planner's statistics say: ``min``
# is read from the index's first entry, and ``ORDER BY seq DESC LIMIT`` walks it backwards.
NUMBER_NEW = f"""CREATE FUNCTION quart_tasks_number_new() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $number$
DECLARE
    how_many bigint := 0;
    numbered_now bigint;
    last bigint;
BEGIN
    IF coalesce((SELECT min(seq) FROM quart_tasks), 0) >= 0 THEN
        RETURN 0;
    END IF;
    PERFORM FROM quart_tasks_store FOR UPDATE;
    LOOP
        WITH fresh AS (SELECT id, row_number() OVER (ORDER BY seq DESC) AS k
                FROM (SELECT id, seq FROM quart_tasks WHERE seq < 0
                    ORDER BY seq DESC LIMIT {NUMBER_AT_ONCE}) AS oldest),
            numbers AS (UPDATE quart_tasks_store SET seq = seq + (SELECT count(*) FROM fresh)
                RETURNING seq - (SELECT count(*) FROM fresh) AS base),
            numbered AS (UPDATE quart_tasks t SET seq = numbers.base + fresh.k
                FROM numbers, fresh WHERE t.id = fresh.id RETURNING t.seq)
        SELECT count(*), coalesce(max(seq), last) INTO numbered_now, last FROM numbered;
        how_many := how_many + numbered_now;
        EXIT WHEN numbered_now < {NUMBER_AT_ONCE};
    END LOOP;
    IF how_many > 0 THEN
        PERFORM pg_notify('{CHANNEL}', last::text);
    END IF;
    RETURN how_many;
END
$number$"""

# true only in the database of the caller's store, whose identity is the parameter (NULL
# while the store has not been reached: then anywhere)
_HERE = "quart_tasks_store_id() = coalesce(%s, quart_tasks_store_id())"
# inserts nothing in the database of another store
_INSERT = (
    "WITH p AS (SELECT nextval(pg_get_serial_sequence('quart_tasks', 'position')) AS n "
    f"WHERE {_HERE}), "
    "stored AS (INSERT INTO quart_tasks "
    "(position, id, name, state, seq, owner, data, run_at, idempotency_key, parent, priority) "
    "SELECT p.n, %s, %s, %s, -p.n, NULL, %s, %s, %s, %s, %s FROM p "
    "ON CONFLICT DO NOTHING RETURNING id) "
    f"SELECT id, pg_notify('{CHANNEL}', '{NEW}'), pg_notify('{WORK_CHANNEL}', '') FROM stored"
)
_HOLDER = f"SELECT {COLUMNS} FROM quart_tasks WHERE idempotency_key = %s"
#: reads the identity of the store whose database a connection reaches
STORE_ID = "SELECT quart_tasks_store_id()"
# held to the caller's commit: the store's own writes never wait for a key held this way
# (see ``rows.py``), and answer that it is in use instead
_LOCK_KEY = f"SELECT pg_advisory_xact_lock(%s, hashtext(%s)) WHERE {_HERE}"

#: a caller's connection, in either kind
CallerConnection = psycopg.Connection[Any] | psycopg.AsyncConnection[Any]


class Here(NamedTuple):
    """The store a caller's connection must reach: its identity (None while it has not been
    reached, and no connection is checked) and its redacted location."""

    store_id: str | None
    where: str


_CONNECTION = (
    "connection= takes the psycopg.{kind} whose transaction the task joins, not {given!r}{hint}"
)
# where a SQLAlchemy session keeps its psycopg connection
_SQLALCHEMY_HINT = {
    "Connection": "session.connection().connection.driver_connection",
    "AsyncConnection": "(await (await session.connection()).get_raw_connection())"
    ".driver_connection",
}


def wrong_connection(kind: str, given: object) -> InvalidOptions:
    """The refusal of ``given`` where a psycopg ``kind`` (``Connection``...) is needed."""
    hint = ""
    if type(given).__module__.startswith("sqlalchemy"):
        hint = f"; a SQLAlchemy session's is {_SQLALCHEMY_HINT[kind]}"
    return InvalidOptions(_CONNECTION.format(kind=kind, given=given, hint=hint))


def _steps(record: TaskRecord, here: Here) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements that store ``record``; the last one returns a row if it was stored."""
    key = record.idempotency_key
    run_at = record.run_at.timestamp() if record.run_at is not None else None
    columns = (here.store_id, record.id, record.name, record.state.value, dump(record), run_at,
               key, record.parent, record.priority)  # fmt: skip
    insert = (_INSERT, columns)
    lock = (_LOCK_KEY, (KEY_LOCK_CLASS, key, here.store_id))
    return [insert] if key is None else [lock, insert]


def _usable(conn: CallerConnection) -> None:
    """Refuse a connection whose transaction the task cannot join, saying why."""
    if conn.closed:
        raise InvalidOptions(
            "the connection given is closed: give the open connection of the transaction "
            "the task joins"
        )
    status = conn.info.transaction_status
    if status == TransactionStatus.INERROR:
        raise InvalidOptions(
            "the transaction on the connection given has failed: roll it back; nothing of "
            "the task was stored"
        )
    if conn.autocommit and status == TransactionStatus.IDLE:
        block = "async with" if isinstance(conn, psycopg.AsyncConnection) else "with"
        raise InvalidOptions(
            "the connection given has no transaction open (it is in autocommit mode): submit "
            f"inside `{block} conn.transaction():`, so that the task commits with the rest"
        )


def _refusal(exc: psycopg.Error) -> InvalidOptions | None:
    """What to tell the caller of a statement refused for a reason of its connection's."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(
        exc,
        (
            psycopg.errors.UndefinedTable,
            psycopg.errors.UndefinedFunction,
            psycopg.errors.UndefinedColumn,
        ),
    ):
        return InvalidOptions(
            f"the database of the connection given has no task store, or one older than this "
            f"code's ({first}): give a connection to the database that the task store uses; "
            "the transaction has failed with it"
        )
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return InvalidOptions(
            "the transaction on the connection given is read-only: submit in one that may "
            "write; the transaction has failed with it"
        )
    return None


class Elsewhere(InvalidOptions):
    """The connection reaches the database of another store than the caller's."""


def _elsewhere(found: tuple[Any, ...] | None, here: Here) -> Elsewhere | None:
    """Why nothing was stored, if the connection reaches another store's database."""
    if here.store_id is None or (found is not None and found[0] == here.store_id):
        return None  # not reached yet: nothing to compare with
    return Elsewhere(
        "the connection given reaches the database of another task store than this one "
        f"(at {here.where}): give a connection to that database; nothing of the task was "
        "stored, and the transaction goes on"
    )


def _outcome(stored: bool, holder: tuple[Any, ...] | None, record: TaskRecord) -> TaskRecord | None:
    if stored:
        return None
    if holder is None:  # ids are random: taken only by a record copied from elsewhere
        raise RuntimeError(f"a task with the id {record.id!r} is stored already")
    return load(*holder)


async def create_in(
    conn: psycopg.AsyncConnection[Any], record: TaskRecord, here: Here
) -> TaskRecord | None:
    """Insert ``record`` in the transaction open on ``conn``: None once written, or the
    record that already holds its idempotency key (nothing written). A connection to the
    database of another store than ``here`` is refused, with nothing written."""
    _usable(conn)
    holder = None
    try:
        async with conn.cursor(row_factory=tuple_row) as cursor:  # whatever conn's own
            for statement, params in _steps(record, here):
                await cursor.execute(statement, params)
            stored = await cursor.fetchone()
            if stored is None:
                await cursor.execute(STORE_ID)
                if (refused := _elsewhere(await cursor.fetchone(), here)) is not None:
                    raise refused
                if record.idempotency_key is not None:
                    await cursor.execute(_HOLDER, (record.idempotency_key,))
                    holder = await cursor.fetchone()
    except psycopg.Error as exc:
        raise _refusal(exc) or exc from exc
    return _outcome(stored is not None, holder, record)


def create_in_sync(
    conn: psycopg.Connection[Any], record: TaskRecord, here: Here
) -> TaskRecord | None:
    """:func:`create_in` on a synchronous connection."""
    _usable(conn)
    holder = None
    try:
        with conn.cursor(row_factory=tuple_row) as cursor:
            for statement, params in _steps(record, here):
                cursor.execute(statement, params)
            stored = cursor.fetchone()
            if stored is None:
                cursor.execute(STORE_ID)
                if (refused := _elsewhere(cursor.fetchone(), here)) is not None:
                    raise refused
                if record.idempotency_key is not None:
                    cursor.execute(_HOLDER, (record.idempotency_key,))
                    holder = cursor.fetchone()
    except psycopg.Error as exc:
        raise _refusal(exc) or exc from exc
    return _outcome(stored is not None, holder, record)


async def number_new(conn: Session, sequence: Sequence) -> None:
    """Number the rows callers' transactions have committed since (see the module)."""
    await conn.execute("SELECT quart_tasks_number_new()")
