"""The window of :meth:`~tasks.store.RecordReader.stats`, and :class:`~.stats.Stats` built
from what a store counted in it.

Every store counts in whole microseconds, as records keep their times: a task ended in the
window if ``since <= finished_at < until``; it ran ``finished_at - started_at``; it ended in
bucket ``(finished_at - since) // bucket``. Percentiles are nearest-rank: of ``n`` runs
sorted, the ``ceil(p * n / 100)``-th, which is the smallest that at least ``p`` percent of
them do not exceed (what PostgreSQL's ``percentile_disc`` gives).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .search import iso, utc
from .stats import Bucket, NameStats, Stats

__all__ = ["PERCENTILES", "Window", "micros", "rank"]

#: the percentiles :class:`~.stats.NameStats` holds, as ranks' percentages
PERCENTILES = (50, 95)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """``moment`` in whole microseconds since the epoch (UTC; a naive one is taken as UTC)."""
    return (utc(moment) - _EPOCH) // _MICROSECOND


def rank(count: int, percent: int) -> int:
    """The 1-based rank of the ``percent``-th percentile among ``count`` sorted values."""
    return (percent * count + 99) // 100


@dataclass(frozen=True, slots=True)
class Window:
    """``since`` to ``until`` (UTC), in buckets of ``bucket`` seconds (whole microseconds)."""

    since: datetime
    until: datetime
    bucket: float
    bucket_us: int

    @classmethod
    def of(cls, since: datetime, until: datetime, bucket: float) -> Window:
        if not (math.isfinite(bucket) and bucket > 0):
            raise ValueError(f"bucket must be a positive number of seconds, not {bucket!r}")
        return cls(utc(since), utc(until), bucket, max(1, round(bucket * 1_000_000)))

    @property
    def since_iso(self) -> str:
        return iso(self.since)

    @property
    def until_iso(self) -> str:
        return iso(self.until)

    @property
    def since_us(self) -> int:
        return micros(self.since)

    @property
    def slots(self) -> int:
        """How many buckets the window holds, the last one possibly partial."""
        span = micros(self.until) - self.since_us
        return -(-span // self.bucket_us) if span > 0 else 0

    def slot(self, finished_us: int) -> int:
        """The bucket a task that ended at ``finished_us`` ended in."""
        return (finished_us - self.since_us) // self.bucket_us

    def stats(
        self,
        *,
        finished: Iterable[tuple[str, str, int]],
        runs: Mapping[str, tuple[int, int]],
        slots: Iterable[tuple[int, str, int]],
        live: Iterable[tuple[str, str, int]],
    ) -> Stats:
        """The answer, from counts a store made: ``finished`` (name, state, count) of the
        tasks that ended in the window, ``runs`` (name -> the percentiles' run times in
        microseconds), ``slots`` (bucket, state, count; buckets out of the window are left
        out) and ``live`` (name, state, count)."""
        by_name: dict[str, dict[str, int]] = {}
        for name, state, count in finished:
            by_name.setdefault(name, {})[state] = count
        names = [
            NameStats(name, counts, *_seconds(runs.get(name)))
            for name, counts in sorted(by_name.items())
        ]
        step = self.bucket_us * _MICROSECOND
        buckets = [Bucket(self.since + index * step) for index in range(self.slots)]
        for index, state, count in slots:
            if 0 <= index < len(buckets):
                buckets[index].finished[state] = count
        now: dict[str, dict[str, int]] = {}
        for name, state, count in live:
            now.setdefault(name, {})[state] = count
        return Stats(self.since, self.until, self.bucket, names, buckets, now)


def _seconds(runs: tuple[int, int] | None) -> tuple[float | None, float | None]:
    if runs is None:
        return None, None
    return runs[0] / 1_000_000, runs[1] / 1_000_000
