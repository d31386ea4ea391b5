"""The queues of an app's tasks, as JSON (``GET /queues``, ``tasks queues``): whether each is
paused, and how many of its tasks wait and run in the store, whichever process holds them."""

from __future__ import annotations

from typing import Any

from ..records import State
from ..registry import Registry
from ..store import RecordReader

__all__ = ["describe", "describe_one"]


async def describe(registry: Registry, records: RecordReader) -> list[dict[str, Any]]:
    """Every queue a registered task waits in, by name."""
    return await _described(registry, records, sorted(registry.queues))


async def describe_one(registry: Registry, records: RecordReader, queue: str) -> dict[str, Any]:
    """One queue; ``UnknownQueue`` if no registered task waits in it."""
    registry.in_queue(queue)
    return (await _described(registry, records, [queue]))[0]


async def _described(
    registry: Registry, records: RecordReader, queues: list[str]
) -> list[dict[str, Any]]:
    paused = await records.paused_queues()
    waiting = await records.count_by_name(State.QUEUED)
    running = await records.count_by_name(State.RUNNING)
    described = []
    for queue in queues:
        tasks = registry.in_queue(queue)
        names = [task.name for task in tasks]
        described.append(
            {
                "name": queue,
                "paused": queue in paused,
                "waiting": sum(waiting.get(name, 0) for name in names),
                "running": sum(running.get(name, 0) for name in names),
                "tasks": names,
                "limits": [
                    {"task": task.name, **task.limits.to_dict()}
                    for task in tasks
                    if task.limits is not None
                ],
            }
        )
    return described
