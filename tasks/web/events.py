"""Server-sent event streams of task records: ``/tasks/<id>/events`` and ``/events``.

Each event carries one record as JSON, and the store's sequence number of that write as its
id. A stream reads each task's latest write (see :class:`~tasks.ChangeFeed`): a task's events
never go back, writes overwritten before a read are skipped, and its terminal state comes
once. A client that reconnects with ``Last-Event-ID`` (browsers do so on their own) gets the
latest write of every task that changed since. Progress events come at most every
``TASKS_PROGRESS_INTERVAL`` seconds per task, the rate at which progress is written.

A process serves at most ``TASKS_MAX_STREAMS`` streams at once; past that a stream request is
answered ``503`` with ``Retry-After``. ``HEAD`` answers a stream's headers and ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import cast

from quart import Quart, Response, current_app, request
from quart.blueprints import BlueprintSetupState

from ..app.lifecycle import add_http_service
from ..app.settings import Settings, config_key
from ..app.stream import ChangeFeed
from ..errors import ShuttingDown, TaskNotFound
from ..records import TaskRecord
from ..store import Change
from .base import blueprint, extension
from .errors import BadRequest, error_response
from .numbers import whole_number
from .shutdown_signal import SignalWatch

__all__ = ["DEFAULTS"]

#: The event streams' settings (read with the other settings, see :class:`~tasks.Settings`)
#: and their defaults: seconds between two checks for changes written by other processes,
#: and seconds of silence before a keep-alive comment.
DEFAULTS = {
    config_key(field): Settings.model_fields[field].default
    for field in ("events_poll_interval", "events_keepalive_interval")
}
EXTENSION = "task_events"
#: how long a browser waits before reconnecting a dropped stream, in milliseconds
RECONNECT_MS = 1000
#: seconds a client refused for too many open streams is told to wait
FULL_RETRY_AFTER = 5
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # ask nginx-style proxies not to buffer the stream
}


@dataclass
class EventStreams:
    """The app's change feed, and how many streams of it are open (at most ``limit``)."""

    feed: ChangeFeed
    limit: int
    open: int = 0


@blueprint.record_once
def serve_event_streams(state: BlueprintSetupState) -> None:
    """Run the event feed with the app's Tasks extension, whichever is set up first."""
    add_http_service(cast(Quart, state.app), "event feed", _event_feed)


@asynccontextmanager
async def _event_feed(app: Quart) -> AsyncIterator[None]:
    """The feed of the app's streams, from the runner's start to its stop; it ends every
    stream as soon as shutdown begins."""
    tasks = extension()
    settings, active = tasks.settings, tasks.runner
    feed = ChangeFeed(
        active.records,
        active.subscribe,
        poll_interval=settings.events_poll_interval,
        idle_interval=settings.events_keepalive_interval,
    )
    async with AsyncExitStack() as stack:
        stack.push_async_callback(feed.close)
        await feed.start()
        watcher = asyncio.get_running_loop().create_task(_close_on_shutdown(app, feed))
        stack.push_async_callback(_cancel, watcher)
        # Hypercorn sets shutdown_event only after open connections end (or graceful_timeout):
        # the signal itself is the earliest notice, so streams end before that wait.
        signals = SignalWatch(feed.stop)
        signals.install()
        stack.callback(signals.uninstall)
        app.extensions[EXTENSION] = EventStreams(feed, limit=settings.max_streams)
        stack.callback(app.extensions.pop, EXTENSION, None)
        yield


@blueprint.get("/events")
async def all_events() -> Response:
    """Each task's changes from now (or from ``Last-Event-ID``) on, as read; never ends."""
    streams = _streams()
    after = await streams.feed.position(_last_event_id())
    return await _event_stream(streams, _all_changes(streams.feed, after))


@blueprint.get("/tasks/<task_id>/events")
async def task_events(task_id: str) -> Response:
    """The task's current record, then its changes as read, until its terminal state."""
    streams = _streams()
    requested = _last_event_id()
    now = await streams.feed.position()  # read before the record: nothing falls between
    # The record with the number of its latest write: a resumed stream needs no search of
    # the change log for what this task missed, however far back ``requested`` is.
    current = await streams.feed.records.latest_change(task_id)
    if current is None:
        raise TaskNotFound(f"no task has the id {task_id!r}")
    first: Change | None = current
    if requested is not None and current.seq <= requested:
        if current.record.state.terminal:
            # The client has seen the end already; 204 tells EventSource to stop reconnecting.
            return Response("", status=204)
        first = None  # the client has this write already
    # Either way the client then has ``current``: later writes are those numbered above it.
    body = _task_changes(streams.feed, task_id, now, first, max(now, current.seq))
    return await _event_stream(streams, body)


async def _all_changes(feed: ChangeFeed, after: int) -> AsyncGenerator[str, None]:
    async with aclosing(feed.follow(after)) as changes:
        async for change in changes:
            yield _keepalive() if change is None else _event(change)


async def _task_changes(
    feed: ChangeFeed, task_id: str, after: int, first: Change | None, seen: int
) -> AsyncGenerator[str, None]:
    """``first``, then the task's writes after ``after`` numbered above ``seen``, up to its
    terminal one."""
    last: TaskRecord | None = None
    if first is not None:
        yield _event(first)
        if first.record.state.terminal:
            return
        last = first.record
    async with aclosing(feed.follow(after, task_id)) as changes:
        async for change in changes:
            if change is None:
                yield _keepalive()
            elif change.seq > seen and change.record != last:  # skip what the client has
                yield _event(change)
                if change.record.state.terminal:
                    return
                seen, last = change.seq, change.record


def _event(change: Change) -> str:
    data = json.dumps(change.record.to_dict(), separators=(",", ":"))
    return f"id: {change.seq}\ndata: {data}\n\n"


def _keepalive() -> str:
    return ": keep-alive\n\n"


async def _event_stream(streams: EventStreams, body: AsyncGenerator[str, None]) -> Response:
    """The stream's response; a ``HEAD`` gets its headers only, and a full process a 503."""
    if streams.open >= streams.limit:
        response = error_response(
            503,
            "too_many_streams",
            f"this server already has {streams.limit} event streams open, its most "
            f"(TASKS_MAX_STREAMS); retry in {FULL_RETRY_AFTER} seconds, close streams you no "
            "longer read, or raise TASKS_MAX_STREAMS",
        )
        response.headers["Retry-After"] = str(FULL_RETRY_AFTER)
        return response
    if request.method == "HEAD":  # the body would never end
        return Response("", mimetype="text/event-stream", headers=HEADERS)
    held = _holding_a_slot(streams, body)
    # Run it to its first line now: the slot is taken before another request can look.
    opening = await anext(held)
    response = Response(_chain(opening, held), mimetype="text/event-stream", headers=HEADERS)
    response.timeout = None  # a stream lasts as long as the client stays
    return response


async def _holding_a_slot(
    streams: EventStreams, body: AsyncGenerator[str, None]
) -> AsyncGenerator[str, None]:
    """``body`` after the reconnect delay, counted among the open streams while it lasts.

    Once started it gives its slot back however it ends: closed after the response, or, if
    the response is never sent, closed by the event loop when it is collected.
    """
    streams.open += 1
    try:
        yield f"retry: {RECONNECT_MS}\n\n"
        async with aclosing(body):
            async for chunk in body:
                yield chunk
    finally:
        streams.open -= 1


async def _chain(first: str, rest: AsyncGenerator[str, None]) -> AsyncGenerator[str, None]:
    yield first
    async with aclosing(rest):
        async for chunk in rest:
            yield chunk


def _last_event_id() -> int | None:
    """The client's resume point: the ``Last-Event-ID`` header, else the ``after`` query."""
    raw = request.headers.get("Last-Event-ID")
    source = "Last-Event-ID"
    if raw is None:
        raw, source = request.args.get("after"), "after"
    if raw is None or raw.strip() == "":
        return None
    value = whole_number(raw)
    if value is None or value < 0:
        raise BadRequest(
            f"{source} must be an event id from this stream (a whole number, 0 or more), "
            f"not {raw!r}"
        )
    return value


def _streams() -> EventStreams:
    streams: EventStreams | None = current_app.extensions.get(EXTENSION)
    if streams is None:
        raise RuntimeError("event streams are not running: serve the app first")
    if streams.feed.closed:
        raise ShuttingDown("the server is shutting down; reconnect shortly")
    return streams


async def _close_on_shutdown(app: Quart, feed: ChangeFeed) -> None:
    await app.shutdown_event.wait()  # type: ignore[attr-defined]
    await feed.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
