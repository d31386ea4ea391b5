"""The PostgreSQL store's counts for :meth:`~tasks.store.RecordReader.stats`, in one statement.

The tasks that ended in the window are found through the index of finish times (schema
version 7), and read once (name, state, finish and start in microseconds, see
:mod:`.fields`); then counted by name and state, by bucket and state, and each name's run
times taken at the percentiles (``percentile_disc``: nearest-rank). The live tasks are
counted in the same statement, so that all of it is one snapshot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..stats import Stats
from ..windows import PERCENTILES, Window
from .fields import FINISHED, FINISHED_AT, LIVE, field, micros

__all__ = ["STATS", "stats"]

Read = Callable[[str, tuple[Any, ...]], Awaitable[list[tuple[Any, ...]]]]

_RUNS = ", ".join(
    f"percentile_disc({percent / 100}) WITHIN GROUP (ORDER BY finished - started)"
    for percent in PERCENTILES
)

#: the statement; parameters: since, until (stored form), since in microseconds (twice),
#: microseconds per bucket
STATS = f"""
WITH ended AS MATERIALIZED (
    SELECT name, state, {micros(field("finished_at"))} AS finished,
        {micros(field("started_at"))} AS started
    FROM quart_tasks
    WHERE state IN {FINISHED} AND {FINISHED_AT} >= %s AND {FINISHED_AT} < %s
)
SELECT 'finished', name, state, count(*), NULL::bigint, NULL::bigint
    FROM ended WHERE finished IS NOT NULL GROUP BY name, state
UNION ALL
SELECT 'slot', NULL, state, count(*), (finished - %s) / %s, NULL
    FROM ended WHERE finished >= %s GROUP BY 5, state
UNION ALL
SELECT 'run', name, NULL, count(*), {_RUNS}
    FROM ended WHERE finished IS NOT NULL AND started IS NOT NULL GROUP BY name
UNION ALL
SELECT 'live', name, state, count(*), NULL, NULL
    FROM quart_tasks WHERE state IN {LIVE} GROUP BY name, state
"""


async def stats(read: Read, window: Window) -> Stats:
    since_us = window.since_us
    rows = await read(
        STATS, (window.since_iso, window.until_iso, since_us, window.bucket_us, since_us)
    )
    finished: list[tuple[str, str, int]] = []
    slots: list[tuple[int, str, int]] = []
    runs: dict[str, tuple[int, int]] = {}
    live: list[tuple[str, str, int]] = []
    for kind, name, state, count, first, second in rows:
        if kind == "finished":
            finished.append((name, state, count))
        elif kind == "slot":
            slots.append((first, state, count))
        elif kind == "run":
            runs[name] = (first, second)
        else:
            live.append((name, state, count))
    return window.stats(finished=finished, runs=runs, slots=slots, live=live)
