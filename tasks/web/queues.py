"""``/queues``: the queues of the app's tasks, and pausing and resuming one.

A paused queue starts no task in any process sharing the store, across restarts, until it
is resumed: its running tasks finish, and its submissions are accepted and wait ``queued``
(see :mod:`tasks.engine.pauses`).
"""

from __future__ import annotations

from quart import Response, jsonify

from ..app import queue_list
from .api import query_args
from .base import blueprint, runner

__all__ = ["pause_queue", "queues", "resume_queue"]


@blueprint.get("/queues")
async def queues() -> Response:
    query_args(set(), "the list of queues takes no query parameters")
    active = runner()
    return jsonify(queues=await queue_list.describe(active.registry, active.records))


@blueprint.post("/queues/<name>/pause")
async def pause_queue(name: str) -> Response:
    """Start no task of the queue, in any process, until it is resumed."""
    query_args(set(), "pausing a queue takes no query parameters")
    active = runner()
    await active.pauses.pause(name)
    return jsonify(await queue_list.describe_one(active.registry, active.records, name))


@blueprint.post("/queues/<name>/resume")
async def resume_queue(name: str) -> Response:
    """Start the queue's tasks again: its waiting ones first, by priority."""
    query_args(set(), "resuming a queue takes no query parameters")
    active = runner()
    await active.pauses.resume(name)
    return jsonify(await queue_list.describe_one(active.registry, active.records, name))
