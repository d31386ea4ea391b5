"""Server-sent event streams of task records: ``/tasks/<id>/events`` and ``/events``.

Each event carries one record as JSON, and the store's sequence number of that write as its
id. A stream reads each task's latest write (see :class:`~tasks.ChangeFeed`): a task's events
never go back, writes overwritten before a read are skipped, and its terminal state comes
once. A client that reconnects with ``Last-Event-ID`` (browsers do so on their own) gets the
latest write of every task that changed since. Progress events come at most every
``TASKS_PROGRESS_INTERVAL`` seconds per task, the rate at which progress is written.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from quart import Quart, Response, current_app, request
from quart.blueprints import BlueprintSetupState

from ..errors import ShuttingDown
from ..records import TaskRecord
from ..store import Change
from ..stream import ChangeFeed
from .base import blueprint, extension, runner
from .errors import BadRequest
from .shutdown_signal import SignalWatch

__all__ = ["DEFAULTS"]

#: The event streams' settings: seconds between two checks for changes written by other
#: processes, and seconds of silence before a keep-alive comment.
DEFAULTS = {"EVENTS_POLL_INTERVAL": 0.5, "EVENTS_KEEPALIVE_INTERVAL": 15}
EXTENSION = "task_events"
#: how long a browser waits before reconnecting a dropped stream, in milliseconds
RECONNECT_MS = 1000
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # ask nginx-style proxies not to buffer the stream
}


@dataclass
class EventStreams:
    """The app's change feed, and what ends its streams when shutdown begins."""

    feed: ChangeFeed
    watcher: asyncio.Task[None]
    signals: SignalWatch


@blueprint.record_once
def check_config(state: BlueprintSetupState) -> None:
    """Refuse bad settings when the app is built, not when the first stream opens."""
    for key, default in DEFAULTS.items():
        state.app.config.setdefault(key, default)
        _seconds(state.app.config, key)


@blueprint.before_app_serving
async def open_feed() -> None:
    if extension().is_worker:
        return  # a worker process serves no event streams
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    active = runner()
    feed = ChangeFeed(
        active.store,
        active.subscribe,
        poll_interval=_seconds(app.config, "EVENTS_POLL_INTERVAL"),
        idle_interval=_seconds(app.config, "EVENTS_KEEPALIVE_INTERVAL"),
    )
    await feed.start()
    watcher = asyncio.get_running_loop().create_task(_close_on_shutdown(app, feed))
    # Hypercorn sets shutdown_event only after open connections end (or graceful_timeout):
    # the signal itself is the earliest notice, so streams end before that wait.
    signals = SignalWatch(feed.stop)
    signals.install()
    app.extensions[EXTENSION] = EventStreams(feed, watcher, signals)


@blueprint.after_app_serving
async def close_feed() -> None:
    streams: EventStreams | None = current_app.extensions.pop(EXTENSION, None)
    if streams is not None:
        streams.signals.uninstall()
        streams.watcher.cancel()
        await asyncio.gather(streams.watcher, return_exceptions=True)
        await streams.feed.close()


@blueprint.get("/events")
async def all_events() -> Response:
    """Each task's changes from now (or from ``Last-Event-ID``) on, as read; never ends."""
    feed = _feed()
    after = await feed.position(_last_event_id())
    return _event_stream(_all_changes(feed, after))


@blueprint.get("/tasks/<task_id>/events")
async def task_events(task_id: str) -> Response:
    """The task's latest record, then its changes as read, until its terminal state."""
    feed = _feed()
    requested = _last_event_id()
    after = await feed.position(requested)  # read before the record: nothing falls between
    record = await runner().get(task_id)
    first: Change | None = None
    if requested is None or record.state.terminal:
        # A write after `after` is sent with its own id: a client resuming from it (as
        # EventSource does once the response ends) must not get that write again.
        first = await feed.last_change(task_id, after)
        if first is None and requested is not None:
            # The client has seen the end already; 204 tells EventSource to stop reconnecting.
            return Response("", status=204)
        if first is None:
            first = Change(after, record)  # its write is not after `after`: that id is exact
    return _event_stream(_task_changes(feed, task_id, after, first))


async def _all_changes(feed: ChangeFeed, after: int) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"
    async with aclosing(feed.follow(after)) as changes:
        async for change in changes:
            yield _keepalive() if change is None else _event(change)


async def _task_changes(
    feed: ChangeFeed, task_id: str, after: int, first: Change | None
) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"
    last: TaskRecord | None = None
    if first is not None:
        yield _event(first)
        if first.record.state.terminal:
            return
        after, last = first.seq, first.record
    async with aclosing(feed.follow(after, task_id)) as changes:
        async for change in changes:
            if change is None:
                yield _keepalive()
            elif change.record != last:  # a write that changed nothing a client sees
                yield _event(change)
                if change.record.state.terminal:
                    return
                last = change.record


def _event(change: Change) -> str:
    data = json.dumps(change.record.to_dict(), separators=(",", ":"))
    return f"id: {change.seq}\ndata: {data}\n\n"


def _keepalive() -> str:
    return ": keep-alive\n\n"


def _event_stream(body: AsyncIterator[str]) -> Response:
    response = Response(body, mimetype="text/event-stream", headers=HEADERS)
    response.timeout = None  # a stream lasts as long as the client stays
    return response


def _last_event_id() -> int | None:
    """The client's resume point: the ``Last-Event-ID`` header, else the ``after`` query."""
    raw = request.headers.get("Last-Event-ID")
    source = "Last-Event-ID"
    if raw is None:
        raw, source = request.args.get("after"), "after"
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise BadRequest(
            f"{source} must be an event id from this stream (a whole number, 0 or more), "
            f"not {raw!r}"
        )
    return value


def _feed() -> ChangeFeed:
    streams: EventStreams | None = current_app.extensions.get(EXTENSION)
    if streams is None:
        raise RuntimeError("event streams are not running: serve the app first")
    if streams.feed.closed:
        raise ShuttingDown("the server is shutting down; reconnect shortly")
    return streams.feed


def _seconds(config: Mapping[str, Any], key: str) -> float:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{key} must be a number of seconds above 0, not {value!r}")
    return float(value)


async def _close_on_shutdown(app: Quart, feed: ChangeFeed) -> None:
    await app.shutdown_event.wait()  # type: ignore[attr-defined]
    await feed.close()
