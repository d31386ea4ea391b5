"""A worker process's side of a broker: receive task ids, and run each task here.

taskiq's :class:`~taskiq.receiver.Receiver` reads the broker's messages, at most
``concurrency`` in flight at once (a worker passes twice its slots, so that the next tasks
are claimed while others run), and calls ``take`` with each task id. ``take`` (the runner's
:meth:`~tasks.Runner.take`) claims the task in the store, where a task held by a live
owner cannot be taken, then runs it and returns once it has left this worker's slots; the
message is acknowledged then. So a broker that redelivers a message, or gives one to two
workers, never runs a task twice at once, and a worker killed mid-task leaves its tasks to
the store's recovery rules, whatever the broker then does with its messages.

This module imports taskiq: it is loaded only when a broker is configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from .broker import TASK_NAME, BrokerConnection

__all__ = ["BrokerWorker"]

log = logging.getLogger("tasks")

#: seconds :meth:`BrokerWorker.close` waits for the receiver's last acknowledgements
STOP_WAIT = 2.0


class BrokerWorker:
    """Runs the tasks a broker delivers through ``take``, ``concurrency`` in flight at once."""

    def __init__(
        self,
        connection: BrokerConnection,
        take: Callable[[str], Awaitable[None]],
        *,
        concurrency: int,
    ) -> None:
        self.connection = connection
        self.concurrency = concurrency
        broker = connection.broker
        if not broker.is_worker_process:
            raise ValueError("the broker connects as a client only: create it with worker=True")

        async def run(task_id: str) -> None:
            await take(task_id)

        broker.register_task(run, task_name=TASK_NAME)
        self._stop = asyncio.Event()
        self._listening: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Listen for messages in the background, once the broker answers."""
        self.connection.start()
        self._listening = asyncio.get_running_loop().create_task(self._listen())

    def stop_taking(self) -> None:
        """Receive no more messages; the tasks already received go on."""
        self._stop.set()

    async def close(self) -> None:
        """Stop receiving and wait for the receiver to end (its tasks have left by now).

        A receiver whose last read does not end when cancelled (a blocked Redis read can
        hang so) is cut off by closing the broker's connections.
        """
        self._stop.set()
        listening = self._listening
        if listening is None:
            return
        if await _ended(listening, STOP_WAIT):
            return
        listening.cancel()
        if await _ended(listening, STOP_WAIT):
            return
        log.warning("the task broker's receiver does not stop; closing its connections")
        await self.connection.abort()
        if not await _ended(listening, STOP_WAIT):
            log.warning("the task broker's receiver is still busy; leaving it")

    async def _listen(self) -> None:
        delay = self.connection.retry_interval
        while not self._stop.is_set():
            await self.connection.connected.wait()
            receiver = Receiver(
                self.connection.broker,
                max_async_tasks=self.concurrency,
                max_prefetch=0,
                run_startup=False,
                ack_type=AcknowledgeType.WHEN_EXECUTED,
            )
            log.info(
                "taking tasks from the broker at %s, %d in flight at most",
                self.connection.url,
                self.concurrency,
            )
            try:
                await receiver.listen(self._stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stop.is_set():
                    return
                reason = _describe(exc)
                log.debug("the receiver's error", exc_info=exc)
            else:
                if self._stop.is_set():
                    return
                reason = "the broker ended the stream of messages"
            log.warning(
                "receiving from the task broker at %s failed (%s); reconnecting in %g s",
                self.connection.url,
                reason,
                delay,
            )
            await asyncio.sleep(delay)
            await self.connection.reconnect()


async def _ended(task: asyncio.Task[None], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``task``; True (its outcome retrieved) if it ended."""
    await asyncio.wait([task], timeout=timeout)
    if not task.done():
        return False
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("the task broker's receiver ended with %s: %s", type(error).__name__, error)
    return True


def _describe(exc: BaseException) -> str:
    """The error itself, out of the exception groups the receiver's task group wraps it in."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
