"""A broker dispatch stops within its bound even when a send swallows its cancellation."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tasks import MemoryStore, TaskRecord
from tasks.engine import broker
from tasks.engine.broker import BrokerConnection, BrokerDispatch, make_broker


async def test_close_does_not_wait_for_good_on_a_send_that_ignores_its_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broker, "SEND_TIMEOUT", 0.2)
    url = "redis://127.0.0.1:1/0"  # never connected: the send below stands in for one
    connection = BrokerConnection(make_broker(url, queue="q", prefetch=1), url)
    dispatch = BrokerDispatch(connection, MemoryStore(), poll_interval=0.05)
    sending = asyncio.Event()

    async def stubborn(task_id: str) -> bool:
        sending.set()
        # as a client may, when its own timeout expires just as the cancel arrives
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        await asyncio.Event().wait()  # and then waits for the next thing, for good
        return True

    monkeypatch.setattr(dispatch, "_send", stubborn)
    loop = asyncio.get_running_loop()
    dispatch._loops = [loop.create_task(dispatch._send_all())]
    connection.connected.set()
    dispatch.send(TaskRecord.new("noop", {}))
    async with asyncio.timeout(5):
        await sending.wait()
        await dispatch.close()  # returns, leaving the stubborn sender behind
    for task in dispatch._loops:
        task.cancel()  # a second cancel ends it
    await asyncio.gather(*dispatch._loops, return_exceptions=True)
