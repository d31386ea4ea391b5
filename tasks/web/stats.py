"""``GET /stats?window=SECONDS``: what the tasks did lately, counted by the store.

For the last ``window`` seconds (default an hour, up to 30 days): how many tasks of each
name ended in each state, their run time (median and 95th percentile), the tasks that ended
in each bucket of time (throughput and failures over time: one-minute buckets for an hour),
and how many are live now. The store computes it (:meth:`~tasks.store.RecordReader.stats`),
whatever the number of records. The dashboard draws its counts and charts from it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Response, jsonify

from ..records import State
from ..store.stats import Stats
from .api import int_arg, query_args
from .base import blueprint, runner

__all__ = ["BUCKETS", "MAX_WINDOW", "bucket_for", "stats"]

#: the longest window, in seconds
MAX_WINDOW = 30 * 86_400
#: bucket sizes, in seconds: the smallest that gives at most ``MAX_POINTS`` buckets is used
BUCKETS = (60, 300, 900, 3_600, 21_600, 86_400)
MAX_POINTS = 120
_FINISHED = ("succeeded", "failed", "cancelled")
_LIVE = ("scheduled", "queued", "running")


def bucket_for(window: int) -> int:
    """The bucket size for ``window`` seconds: one minute up to two hours, then coarser."""
    return next((size for size in BUCKETS if window / size <= MAX_POINTS), BUCKETS[-1])


@blueprint.get("/stats")
async def stats() -> Response:
    """Counts, throughput and run times of the last ``window`` seconds, from the store."""
    query = query_args({"window"}, "use window (seconds)")
    window = int_arg("window", query.get("window"), default=3_600, low=60, high=MAX_WINDOW)
    until = datetime.now(UTC)
    since = until - timedelta(seconds=window)
    bucket = bucket_for(window)
    active = runner()
    found = await active.records.stats(since=since, until=until, bucket=bucket)
    return jsonify(_answer(found, window, [task.name for task in active.registry]))


def _answer(found: Stats, window: int, registered: list[str]) -> dict[str, Any]:
    by_name = {entry.name: entry for entry in found.names}
    names = sorted({*registered, *by_name, *found.live})
    states = dict.fromkeys((state.value for state in State), 0)
    tasks = []
    for name in names:
        entry = by_name.get(name)
        finished = {state: (entry.finished.get(state, 0) if entry else 0) for state in _FINISHED}
        live = {state: found.live.get(name, {}).get(state, 0) for state in _LIVE}
        for state, count in (*finished.items(), *live.items()):
            states[state] += count
        tasks.append(
            {
                "name": name,
                "finished": finished,
                "live": live,
                "duration": {
                    "p50": entry.p50 if entry else None,
                    "p95": entry.p95 if entry else None,
                },
            }
        )
    return {
        "window": window,
        "since": _iso(found.since),
        "until": _iso(found.until),
        "bucket": found.bucket,
        "states": states,
        "tasks": tasks,
        "throughput": [
            {"start": _iso(point.start), **{s: point.finished.get(s, 0) for s in _FINISHED}}
            for point in found.buckets
        ],
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
