"""The SQLite store's counts for :meth:`~tasks.store.RecordReader.stats`, made in SQL.

The tasks that ended in the window are found through the index of finish times (schema
version 7; named, since without statistics SQLite would rather take the index of states),
and read once into a table of their own (name, state, finish and start in
microseconds, see :mod:`.fields`), which one statement counts three ways: by name and state,
by bucket and state, and each name's run times at the percentiles' ranks (nearest-rank, with
window functions: SQLite has no percentile function). The live tasks are counted in the same
statement, so that all of it is one snapshot. Runs on the store's connection thread.
"""

from __future__ import annotations

import sqlite3

from ..stats import Stats
from ..windows import PERCENTILES, Window
from .fields import FINISHED, LIVE, field, micros

__all__ = ["STATS", "stats"]

_FINISHED_AT = field("finished_at")

#: each name's run time at each percentile's rank, with its percentage for a kind
_AT_RANKS = "".join(
    f"UNION ALL\nSELECT {percent}, name, NULL, run FROM runs WHERE k = ({percent} * n + 99) / 100\n"
    for percent in PERCENTILES
)

#: the statement; parameters: since, until (stored form), since in microseconds (twice),
#: microseconds per bucket
STATS = f"""
WITH ended AS MATERIALIZED (
    SELECT name, state, {_FINISHED_AT} AS finished_at, {field("started_at")} AS started_at
    FROM tasks INDEXED BY tasks_finished_at
    WHERE state IN {FINISHED} AND {_FINISHED_AT} >= ? AND {_FINISHED_AT} < ?
), timed AS MATERIALIZED (
    SELECT name, state, {micros("finished_at")} AS finished, {micros("started_at")} AS started
    FROM ended
), runs AS MATERIALIZED (
    SELECT name, finished - started AS run,
        row_number() OVER (PARTITION BY name ORDER BY finished - started) AS k,
        count(*) OVER (PARTITION BY name) AS n
    FROM timed WHERE finished IS NOT NULL AND started IS NOT NULL
)
SELECT 'finished', name, state, count(*) FROM timed WHERE finished IS NOT NULL
    GROUP BY name, state
UNION ALL
SELECT 'slot', (finished - ?) / ?, state, count(*) FROM timed WHERE finished >= ?
    GROUP BY 2, state
{_AT_RANKS}UNION ALL
SELECT 'live', name, state, count(*) FROM tasks WHERE state IN {LIVE} GROUP BY name, state
"""


def stats(conn: sqlite3.Connection, *, window: Window) -> Stats:
    since_us = window.since_us
    rows = conn.execute(
        STATS, (window.since_iso, window.until_iso, since_us, window.bucket_us, since_us)
    ).fetchall()
    finished: list[tuple[str, str, int]] = []
    slots: list[tuple[int, str, int]] = []
    live: list[tuple[str, str, int]] = []
    ranked: dict[str, dict[int, int]] = {}  # name -> percent -> run time
    for kind, key, state, number in rows:
        if kind == "finished":
            finished.append((key, state, number))
        elif kind == "slot":
            slots.append((key, state, number))
        elif kind == "live":
            live.append((key, state, number))
        else:
            ranked.setdefault(key, {})[kind] = number
    low, high = PERCENTILES
    return window.stats(
        finished=finished,
        runs={name: (at[low], at[high]) for name, at in ranked.items()},
        slots=slots,
        live=live,
    )
