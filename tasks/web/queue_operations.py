"""What the ``/queues`` routes take and answer, for the OpenAPI description."""

from __future__ import annotations

from .operations import Operation, error, json_answer, query

__all__ = ["QUEUE_OPERATIONS", "STATS_OPERATION"]

_UNKNOWN = error("no registered task waits in a queue of that name")
_STORE_FAILS = error("the store could not be reached to write it", Retry_After=True)

QUEUE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "tasks.queues",
        "get",
        "list_queues",
        "The queues, paused or not, with their waiting and running tasks",
        "queues",
        {200: json_answer("QueueList", "each queue a registered task waits in")},
        description="Counts are of the whole store: every process sharing it.",
    ),
    Operation(
        "tasks.pause_queue",
        "post",
        "pause_queue",
        "Pause a queue",
        "queues",
        {200: json_answer("Queue", "the queue, now paused"), 404: _UNKNOWN, 503: _STORE_FAILS},
        description=(
            "No process sharing the store starts a task of the queue until it is resumed, "
            "across restarts. Its running tasks finish; its submissions are accepted and "
            "wait queued."
        ),
    ),
    Operation(
        "tasks.resume_queue",
        "post",
        "resume_queue",
        "Resume a paused queue",
        "queues",
        {200: json_answer("Queue", "the queue, now running"), 404: _UNKNOWN, 503: _STORE_FAILS},
        description="Its waiting tasks start again, highest priority first.",
    ),
)

STATS_OPERATION = Operation(
    "tasks.stats",
    "get",
    "task_stats",
    "What the tasks did lately: counts, throughput and run times",
    "tasks",
    {200: json_answer("Stats", "the window's counts, computed by the store")},
    description=(
        "For the last `window` seconds: how many tasks of each name ended in each state, "
        "their run time (p50, p95), the tasks that ended in each bucket of time (one minute "
        "for windows up to two hours), and how many are live now, in the whole store."
    ),
    parameters=(
        query(
            "window",
            {"type": "integer", "minimum": 60, "maximum": 2_592_000, "default": 3600},
            "seconds back from now",
        ),
    ),
)
