"""The PostgreSQL store's tables, and bringing a database to the version this code writes.

Table names carry a ``quart_tasks_`` prefix, so that the store can share a database with an
application's own tables. ``quart_tasks_store`` has one row: the schema version and the
change counter (see ``batches.py``). One function, ``quart_tasks_admit``, admits limited
starts (see ``limits.py``); ``quart_tasks_field`` and ``quart_tasks_micros`` read a record's
JSON and its times without failing on a damaged row (see ``fields.py``);
``quart_tasks_number_new`` numbers the rows stored in callers' own transactions, and
``quart_tasks_store_id`` returns the store's random identity (see ``in_transaction.py``).
"""

from __future__ import annotations

from ..schema import upgrade_steps
from .batches import CHANNEL
from .in_transaction import NUMBER_NEW
from .pool import Connection

__all__ = ["SCHEMA_VERSION", "prepare"]

#: the schema version this code writes
SCHEMA_VERSION = 9

# Creates ``quart_tasks_store_id()``, a function returning a constant drawn at random now
STORE_ID = """DO $store_id$ DECLARE
    drawn text := md5(random()::text || clock_timestamp()::text);
BEGIN
    EXECUTE 'CREATE FUNCTION quart_tasks_store_id() RETURNS text LANGUAGE sql IMMUTABLE '
        || 'PARALLEL SAFE AS ' || quote_literal('SELECT ' || quote_literal(drawn));
END $store_id$"""

# any constant: serialises processes that create or upgrade the tables at the same moment
_LOCK_KEY = 0x7461736B73  # "tasks"
#: the first key of the advisory locks of admissions (the second: a hash of the task's
#: name); two-key locks never meet the one-key lock above
_ADMISSION_LOCK_CLASS = 0x71746C6D  # "qtlm"

# Admits one limited start (the task ``task``, held by ``holder``; its JSON without its
# ``started_at``, ``json_head`` and ``json_tail``) and returns what ``limits.py`` reads: no
# row if ``holder`` does not hold the task; otherwise whether the concurrency limit refuses
# it, the seconds until the rate limit frees a start if that refuses it, the record as
# written if admitted, and the task's columns as they were. A PL/pgSQL function: the server
# plans its statements once per connection, not at each admission.
_ADMIT = f"""CREATE OR REPLACE FUNCTION quart_tasks_admit(
    task text, holder text, task_name text, group_key text, concurrency bigint,
    rate bigint, window_s double precision, new_state text, json_head text, json_tail text
) RETURNS TABLE (
    crowded boolean, retry_in double precision, written text, held_data text,
    held_owner text, held_cancel boolean, held_id text, held_name text, held_state text
) LANGUAGE plpgsql VOLATILE AS $admit$
DECLARE
    moment timestamptz;
    now_s double precision;
    change bigint;
BEGIN
    -- the admissions of one name run one after another, each reading once the lock is held
    PERFORM pg_advisory_xact_lock({_ADMISSION_LOCK_CLASS}, hashtext(task_name));
    moment := clock_timestamp();
    now_s := extract(epoch from moment)::float8;
    crowded := false;
    SELECT t.data, t.owner, t.cancel_requested, t.id, t.name, t.state
        INTO held_data, held_owner, held_cancel, held_id, held_name, held_state
        FROM quart_tasks t WHERE t.id = task AND t.owner = holder;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF held_state <> 'queued' THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF concurrency IS NOT NULL THEN
        crowded := (SELECT count(*) FROM quart_tasks t
            JOIN quart_tasks_owners o ON o.owner = t.owner
            WHERE t.name = task_name AND t.limit_key = group_key AND t.state = 'running'
            AND o.lease_until >= now_s) >= concurrency;
    END IF;
    IF rate IS NOT NULL AND NOT crowded THEN
        -- refused if the window holds ``rate`` starts: free once the rate-th newest leaves
        retry_in := (SELECT s.at + window_s - now_s FROM quart_tasks_starts s
            WHERE s.name = task_name AND s.at > now_s - window_s
            ORDER BY s.at DESC OFFSET rate - 1 LIMIT 1);
    END IF;
    IF crowded OR retry_in IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF rate IS NOT NULL THEN
        DELETE FROM quart_tasks_starts s WHERE s.name = task_name AND s.at <= now_s - window_s;
        INSERT INTO quart_tasks_starts (name, at) VALUES (task_name, now_s);
    END IF;
    UPDATE quart_tasks_store SET seq = seq + 1 RETURNING seq INTO change;
    UPDATE quart_tasks t SET state = new_state, seq = change, limit_key = group_key,
        data = json_head || '"' || to_char(moment AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"' || json_tail
        WHERE t.id = task RETURNING t.data INTO written;
    PERFORM pg_notify('{CHANNEL}', change::text);
    RETURN NEXT;
END
$admit$"""

# A field of a record's JSON (``data``, text), NULL if it has none or if ``data`` is not
# JSON (a damaged row, or text JSON cannot decode): nothing that reads or indexes a field
# fails on such a row. Deterministic, so that an index can hold it. Not parallel safe: it
# catches errors, which takes a subtransaction.
_FIELD = """CREATE FUNCTION quart_tasks_field(data text, path text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $field$
BEGIN
    RETURN data::json #>> path;
EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
    RETURN NULL;
END
$field$"""

# A stored time (``2026-12-05T14:03:07.412345Z``) in whole microseconds since the epoch, NULL
# if it is not one.
_MICROS = """CREATE FUNCTION quart_tasks_micros(moment text) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT AS $micros$
BEGIN
    RETURN (extract(epoch FROM moment::timestamptz) * 1000000)::bigint;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END
$micros$"""

#: ``_STEPS[n]`` takes a database from version n - 1 (0: no tables yet) to n
_STEPS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE quart_tasks_store (
            single         boolean PRIMARY KEY DEFAULT true CHECK (single),
            schema_version integer NOT NULL,
            seq            bigint NOT NULL DEFAULT 0
        )""",
        "INSERT INTO quart_tasks_store (schema_version) VALUES (0)",
        # position: creation order, for listing and claiming; seq: the latest change
        """CREATE TABLE quart_tasks (
            position         bigserial NOT NULL,
            id               text PRIMARY KEY,
            name             text NOT NULL,
            state            text NOT NULL,
            seq              bigint NOT NULL,
            owner            text,
            cancel_requested boolean NOT NULL DEFAULT false,
            data             text NOT NULL
        )""",
        "CREATE UNIQUE INDEX quart_tasks_by_seq ON quart_tasks (seq)",
        "CREATE UNIQUE INDEX quart_tasks_by_position ON quart_tasks (position)",
        "CREATE INDEX quart_tasks_by_state ON quart_tasks (state, position)",
        "CREATE INDEX quart_tasks_by_name ON quart_tasks (name, position)",
        "CREATE INDEX quart_tasks_by_owner ON quart_tasks (owner) WHERE owner IS NOT NULL",
        "CREATE INDEX quart_tasks_live ON quart_tasks (position) "
        "WHERE state IN ('queued', 'running')",
        """CREATE TABLE quart_tasks_owners (
            owner       text PRIMARY KEY,
            lease_until double precision NOT NULL
        )""",
    ),
    # delayed tasks (run_at, unix time), idempotency keys, and the ticks of periodic schedules
    2: (
        "ALTER TABLE quart_tasks ADD COLUMN run_at double precision, "
        "ADD COLUMN idempotency_key text",
        "CREATE UNIQUE INDEX quart_tasks_by_key ON quart_tasks (idempotency_key) "
        "WHERE idempotency_key IS NOT NULL",
        "CREATE INDEX quart_tasks_due ON quart_tasks (run_at) WHERE state = 'scheduled'",
        """CREATE TABLE quart_tasks_schedules (
            name      text PRIMARY KEY,
            last_tick double precision NOT NULL,
            task_id   text
        )""",
    ),
    # workflows: the task whose run submitted each one (NULL for the records of version 2)
    3: (
        "ALTER TABLE quart_tasks ADD COLUMN parent text",
        "CREATE INDEX quart_tasks_by_parent ON quart_tasks (parent) WHERE parent IS NOT NULL",
    ),
    # priorities: claims take the live tasks of the highest first (0 for earlier records)
    4: (
        "ALTER TABLE quart_tasks ADD COLUMN priority integer NOT NULL DEFAULT 0",
        "CREATE INDEX quart_tasks_to_claim ON quart_tasks (priority DESC, position) "
        "WHERE state IN ('queued', 'running')",
    ),
    # paused queues: no process starts a task of one (a queue without a row is not paused)
    5: (
        """CREATE TABLE quart_tasks_queues (
            name   text PRIMARY KEY,
            paused boolean NOT NULL DEFAULT false
        )""",
    ),
    # limits: running tasks counted by group (name, concurrency key), recent starts, and
    # the function that admits a limited start
    6: (
        "ALTER TABLE quart_tasks ADD COLUMN limit_key text",
        "CREATE INDEX quart_tasks_running_by_limit ON quart_tasks (name, limit_key) "
        "WHERE state = 'running'",
        """CREATE TABLE quart_tasks_starts (
            name text NOT NULL,
            at   double precision NOT NULL
        )""",
        "CREATE INDEX quart_tasks_starts_by_name ON quart_tasks_starts (name, at)",
        _ADMIT,
    ),
    # stats: the finished records of a window of finish times, found without reading the
    # others (compared in code point order, as the stored times order as time does); spelt
    # as ``fields.FINISHED_AT`` is, so that queries use it
    7: (
        _FIELD,
        _MICROS,
        "CREATE INDEX quart_tasks_finished_at ON quart_tasks "
        """((quart_tasks_field(data, '{finished_at}') COLLATE "C")) """
        "WHERE state IN ('succeeded', 'failed', 'cancelled')",
    ),
    # tasks stored in callers' own transactions, numbered once they have committed
    8: (NUMBER_NEW,),
    # the store's identity, random: a caller's connection to another store's database is
    # refused before anything is written there (see ``in_transaction.py``)
    9: (STORE_ID,),
}


async def prepare(conn: Connection, where: str) -> str | None:
    """Create or upgrade the tables in one transaction; refuse a newer schema. Returns the
    store's identity."""
    async with conn.transaction():
        # whatever the database's default: a process that waited for the lock must see what
        # the one before it committed, which a snapshot taken before the wait would not
        await conn.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        found = await _version(conn)
        steps = upgrade_steps(found, _STEPS, store="PostgreSQL task store", where=where)
        for statement in steps:
            await conn.execute(statement)
        if steps:
            await conn.execute(
                "UPDATE quart_tasks_store SET schema_version = %s", (SCHEMA_VERSION,)
            )
        cursor = await conn.execute("SELECT quart_tasks_store_id()")
        row = await cursor.fetchone()
    return str(row[0]) if row else None


async def _version(conn: Connection) -> int:
    cursor = await conn.execute("SELECT to_regclass('quart_tasks_store') IS NOT NULL")
    exists = await cursor.fetchone()
    if not exists or not exists[0]:
        return 0
    cursor = await conn.execute("SELECT schema_version FROM quart_tasks_store")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0
