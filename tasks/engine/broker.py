"""Handing tasks to worker processes through a taskiq broker.

With ``TASKS_BROKER`` set, a runner stores each task it accepts held by nobody, then sends
the task's id (never its arguments: the store holds the record) to the broker as a message
for the taskiq task :data:`TASK_NAME`. Worker processes (:mod:`.worker`) receive it, take the
task in the store and run it. The broker only delivers: the store decides who runs a task,
and workers also claim from the store what nobody holds, so a message that is lost, late or
delivered twice changes nothing but timing.

- ``redis://`` / ``rediss://``: taskiq-redis' ``RedisStreamBroker`` (a Redis stream read by
  one consumer group, messages acknowledged once handled);
- ``amqp://`` / ``amqps://``: taskiq-aio-pika's ``AioPikaBroker`` (RabbitMQ, a durable queue).

This module imports taskiq: it is loaded only when a broker is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker

from ..records import TaskRecord
from ..store import Store
from .backlog import Backlog

__all__ = ["TASK_NAME", "BrokerConnection", "BrokerDispatch", "make_broker", "safe_url"]

log = logging.getLogger("tasks")

#: the taskiq task whose messages carry a task id to the workers
TASK_NAME = "quart_tasks.run"
#: seconds one send may take before it counts as failed
SEND_TIMEOUT = 5.0
#: most seconds between two attempts to reach a broker that does not answer
MAX_RETRY_INTERVAL = 10.0


def make_broker(url: str, *, queue: str, prefetch: int) -> AsyncBroker:
    """The taskiq broker for ``url``; ``prefetch`` bounds the messages a worker holds at once."""
    scheme = urlsplit(url).scheme
    if scheme in {"redis", "rediss"}:
        from taskiq_redis import RedisStreamBroker

        return RedisStreamBroker(
            url,
            queue_name=queue,
            consumer_group_name=queue,
            # Up to a worker's concurrency per read: taskiq-redis looks for stale messages
            # to reclaim after every read (a lock, XAUTOCLAIM, an unlock), which one message
            # per read would pay per task. The receiver still takes on only as many as the
            # worker has slots; the rest of a read waits in this worker, and a worker that
            # finds a task already held by another drops its message.
            xread_count=max(1, prefetch),
            xread_block=1000,
            # Without a timeout a worker killed while it holds the reclaim lock would block
            # every other worker's reclaim for good.
            unacknowledged_lock_timeout=5.0,
            socket_connect_timeout=3,
        )
    if scheme in {"amqp", "amqps"}:
        from taskiq_aio_pika import AioPikaBroker, Exchange, Queue

        return AioPikaBroker(
            url,
            qos=max(1, prefetch),
            exchange=Exchange(name=queue),
            task_queues=[Queue(name=queue)],
            dead_letter_queue=Queue(name=f"{queue}.dead_letter"),
        )
    raise ValueError(f"unsupported broker {scheme!r}: use 'redis://…' or 'amqp://…'")


def safe_url(url: str) -> str:
    """``url`` without its password, for the log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class BrokerConnection:
    """A taskiq broker, connected in the background and retried until it answers.

    A process starts whether or not its broker is up; ``connected`` is set once it is.
    """

    def __init__(self, broker: AsyncBroker, url: str, *, retry_interval: float = 1.0) -> None:
        self.broker = broker
        self.url = safe_url(url)
        self.retry_interval = retry_interval
        self.connected = asyncio.Event()
        self._closing = asyncio.Event()
        self._connecting: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self.connect())

    async def connect(self) -> None:
        """Start the broker, retrying with a log line each time until it answers."""
        delay = self.retry_interval
        while not self._closing.is_set():
            try:
                await self.broker.startup()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "the task broker at %s does not answer (%s: %s); retrying in %g s",
                    self.url,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                with contextlib.suppress(Exception):
                    await self.broker.shutdown()  # what the failed start opened
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._closing.wait()
                delay = min(2 * delay, MAX_RETRY_INTERVAL)
                continue
            log.info("task broker at %s connected", self.url)
            self.connected.set()
            return

    async def reconnect(self) -> None:
        """Start the broker again after it failed (a server that restarted lost its queue)."""
        self.connected.clear()
        with contextlib.suppress(Exception):
            await self.broker.shutdown()
        await self.connect()

    async def abort(self) -> None:
        """Close the broker's connections now, whatever still uses them."""
        self.connected.clear()
        try:
            await asyncio.wait_for(self.broker.shutdown(), SEND_TIMEOUT)
        except Exception as exc:
            log.warning("closing the task broker failed: %s", exc)

    async def close(self) -> None:
        """Stop retrying and close the broker's connections.

        A connection attempt under way is let finish (up to ``SEND_TIMEOUT``) rather than
        cancelled: a client cancelled mid-connect may go on reconnecting by itself.
        """
        self._closing.set()
        if self._connecting is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SEND_TIMEOUT):
                    await asyncio.shield(self._connecting)
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self.connected.is_set():
            await self.abort()


class BrokerDispatch:
    """Sends each stored task's id to the broker, in order, from a bounded outbox.

    Sending never holds up a submission: the record is durable before its id is sent. While
    the broker does not answer, ids wait in the outbox (at most ``outbox_limit``; past that
    the oldest are dropped) and are sent once it does; workers claim the same tasks from
    the store in the meantime. ``backlog`` is the :class:`~.backlog.Backlog` count.
    """

    def __init__(
        self,
        connection: BrokerConnection,
        store: Store,
        *,
        poll_interval: float,
        outbox_limit: int = 10_000,
        drain_timeout: float = 3.0,
    ) -> None:
        self.connection = connection
        self.outbox_limit = outbox_limit
        self.drain_timeout = drain_timeout
        self._kicker: AsyncKicker[Any, Any] = AsyncKicker(TASK_NAME, connection.broker, {})
        self._outbox: deque[str] = deque()
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._backlog = Backlog(store, poll_interval=poll_interval)
        self._failing = False
        self._closing = False
        self._loops: list[asyncio.Task[None]] = []

    @property
    def backlog(self) -> int:
        return self._backlog.count

    def send(self, record: TaskRecord) -> None:
        if len(self._outbox) >= self.outbox_limit:
            dropped = self._outbox.popleft()
            log.warning("task %s: broker outbox full; it waits in the store instead", dropped)
        self._outbox.append(record.id)
        self._backlog.sent()
        self._empty.clear()
        self._ready.set()

    def counted(self, record: TaskRecord) -> None:
        self._backlog.sent()  # never sent: workers claim it from the store

    async def start(self) -> None:
        self.connection.start()
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._send_all())]
        self._backlog.start()

    async def drain(self) -> None:
        """Give the ids still in the outbox a moment to go out; the store keeps the rest."""
        if self._outbox and self.connection.connected.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.drain_timeout):
                    await self._empty.wait()
        if self._outbox:
            log.info("%d task ids not sent to the broker; workers claim them", len(self._outbox))

    async def close(self) -> None:
        """Stop sending (within ``SEND_TIMEOUT``) and close the connection.

        The sender is cancelled, and its end awaited for a bounded time only: a send under
        way in the broker's client may swallow the cancellation (Python 3.11's
        ``asyncio.timeout`` can, when it expires as the cancel arrives), and a shutdown must
        not wait for it for good. ``_closing`` ends its loop in that case.
        """
        self._closing = True
        self._ready.set()
        for task in self._loops:
            task.cancel()
        if self._loops:
            _, pending = await asyncio.wait(self._loops, timeout=SEND_TIMEOUT)
            if pending:
                log.warning("the task broker's sender did not stop when asked; leaving it")
        await self._backlog.close()
        await self.connection.close()

    async def _send_all(self) -> None:
        while not self._closing:
            await self._ready.wait()
            if self._closing:
                return
            await self.connection.connected.wait()
            while self._outbox and not self._closing:
                task_id = self._outbox[0]
                if not await self._send(task_id):
                    await asyncio.sleep(self.connection.retry_interval)
                    continue
                if self._outbox and self._outbox[0] == task_id:
                    self._outbox.popleft()
            self._ready.clear()
            self._empty.set()

    async def _send(self, task_id: str) -> bool:
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await self._kicker.kiq(task_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._failing:
                self._failing = True
                log.warning(
                    "handing tasks to the broker at %s fails (%s: %s); they wait in the "
                    "outbox and the store, and run once a worker takes them",
                    self.connection.url,
                    type(exc).__name__,
                    exc.__cause__ or exc,
                )
            return False
        if self._failing:
            self._failing = False
            log.info("the task broker at %s takes tasks again", self.connection.url)
        return True
