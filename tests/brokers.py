"""Redis and RabbitMQ servers for the broker tests: a stream or queue of each test's own.

The servers are ``TASKS_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``: a database
number of the tests' own) and ``TASKS_TEST_RABBITMQ_URL`` (default guest on 127.0.0.1:5672).
Where none answers, the broker tests skip with the reason; in CI (``CI`` set) they fail.
Each test gets a queue name nobody else uses (``TASKS_TEST_QUEUE_PREFIX``, default
``tasks-test-``, then a random part), and deletes what it made under that name (the Redis
stream and its reclaim lock; the RabbitMQ queues and exchange): it never empties a database
or touches another run's queues.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass(frozen=True)
class BrokerConfig:
    """A broker URL (``TASKS_BROKER``) and the queue name (``TASKS_BROKER_QUEUE``) to use."""

    url: str
    queue: str

    def env(self) -> dict[str, str]:
        """The two settings as environment variables, for a server or worker process."""
        return {"QUART_TASKS_BROKER": self.url, "QUART_TASKS_BROKER_QUEUE": self.queue}

    def config(self) -> dict[str, str]:
        """The two settings as app configuration keys."""
        return {"TASKS_BROKER": self.url, "TASKS_BROKER_QUEUE": self.queue}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide one (.ci/run)")
    pytest.skip(reason)


def redis_server() -> str:
    """The Redis URL to test with, checked to answer; skips (fails in CI) if not."""
    import redis

    url = os.environ.get("TASKS_TEST_REDIS_URL") or DEFAULT_REDIS_URL
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        _unavailable(f"no Redis server answers at {url} (set TASKS_TEST_REDIS_URL): {exc}")
    return url


def rabbitmq_server() -> str:
    """The RabbitMQ URL to test with, checked to answer; skips (fails in CI) if not."""
    url = os.environ.get("TASKS_TEST_RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
    try:
        _run_apart(lambda: _rabbitmq_ping(url))
    except Exception as exc:
        _unavailable(
            f"no RabbitMQ server answers at {url} (set TASKS_TEST_RABBITMQ_URL): "
            f"{type(exc).__name__}: {exc}"
        )
    return url


async def _rabbitmq_ping(url: str) -> None:
    import aio_pika

    async with asyncio.timeout(5):
        connection = await aio_pika.connect(url)
        await connection.close()


@contextmanager
def broker_config(request: pytest.FixtureRequest) -> Iterator[BrokerConfig]:
    """The broker ``request.param`` names ("redis" or "rabbitmq") with a queue of its own."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_server_url")
        with redis_queue(url) as queue:
            yield BrokerConfig(url, queue)
    else:
        url = request.getfixturevalue("rabbitmq_server_url")
        with rabbitmq_queue(url) as queue:
            yield BrokerConfig(url, queue)


def _run_apart(coroutine: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to its end on a loop of its own, also from inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(coroutine())).result()


def queue_name() -> str:
    prefix = os.environ.get("TASKS_TEST_QUEUE_PREFIX") or "tasks-test-"
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@contextmanager
def redis_queue(url: str) -> Iterator[str]:
    """A stream name of the test's own on ``url``; its keys are deleted on exit."""
    import redis

    name = queue_name()
    try:
        yield name
    finally:
        client = redis.Redis.from_url(url)
        try:
            client.delete(name, f"autoclaim:{name}:{name}")
        finally:
            client.close()


@contextmanager
def rabbitmq_queue(url: str) -> Iterator[str]:
    """A queue and exchange name of the test's own on ``url``; deleted on exit."""
    name = queue_name()
    try:
        yield name
    finally:
        _run_apart(lambda: _rabbitmq_delete(url, name))


async def _rabbitmq_delete(url: str, name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(url)
    try:
        for queue in (name, f"{name}.dead_letter"):
            channel = await connection.channel()  # a failed delete closes its channel
            with suppress(aio_pika.exceptions.ChannelClosed):  # never declared
                await channel.queue_delete(queue)
        channel = await connection.channel()
        with suppress(aio_pika.exceptions.ChannelClosed):
            await channel.exchange_delete(name)
    finally:
        await connection.close()


class Relay:
    """A TCP relay on 127.0.0.1 to a broker, started and stopped at will: a broker that is
    down, then up, at a port of its own."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target_host = parts.hostname or "127.0.0.1"
        self.target_port = parts.port or (6379 if parts.scheme.startswith("redis") else 5672)
        self._target = parts
        with socket.socket() as sock:  # a free port, closed until the relay starts
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The target's URL, through the relay."""
        netloc = self._target.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(
            self._target._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host)
        )

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        loop = asyncio.get_running_loop()
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pipe = loop.create_task(_pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except ConnectionError:
        pass  # one side went away: close the other
    finally:
        sink.close()
