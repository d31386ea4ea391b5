"""What a store counts for ``GET /stats`` and the dashboard's charts, computed in the store.

:meth:`~tasks.store.RecordReader.stats` answers for a window of time (``since`` to
``until``): how many tasks of each name ended in it, in each finished state; how long their
last attempt ran (the 50th and 95th percentiles, from ``started_at`` to ``finished_at``,
of those that started); how many ended in each bucket of ``bucket`` seconds (throughput and
failures over time); and, whatever the window, how many are live now by name and state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Bucket", "NameStats", "Stats"]


@dataclass(frozen=True, slots=True)
class NameStats:
    """The tasks of one name that ended in the window."""

    name: str
    #: how many ended in each finished state (``succeeded``, ``failed``, ``cancelled``);
    #: states with none are left out
    finished: dict[str, int] = field(default_factory=dict)
    #: run time of the last attempt, in seconds, of those that started: the median and the
    #: 95th percentile (the smallest value at or above that share of them); None: none started
    p50: float | None = None
    p95: float | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """The tasks that ended in one bucket of the window, of every name."""

    #: when the bucket begins (UTC): ``since`` plus a whole number of buckets
    start: datetime
    #: how many ended in each finished state; states with none are left out
    finished: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stats:
    """The answer of :meth:`~tasks.store.RecordReader.stats`."""

    since: datetime
    until: datetime
    #: seconds per bucket of :attr:`buckets`
    bucket: float
    #: the names with a task that ended in the window, by name
    names: list[NameStats]
    #: every bucket of the window, oldest first, empty ones included
    buckets: list[Bucket]
    #: live tasks now, whatever the window: name -> state (scheduled, queued, running) ->
    #: count; names and states with none are left out
    live: dict[str, dict[str, int]]
