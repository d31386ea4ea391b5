"""Broker mode, chosen by configuration (``TASKS_BROKER``).

The broker parts (:mod:`.broker`, :mod:`.worker`) import taskiq and a broker package, which
come with the optional extras ``redis`` and ``rabbitmq``; they are imported here, and only
when a broker is configured. A URL whose extra is missing is refused at once, naming it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..store import Store

if TYPE_CHECKING:
    from .broker import BrokerDispatch
    from .worker import BrokerWorker

__all__ = ["broker_dispatch", "broker_worker", "check_broker"]

#: URL scheme → (extra, the modules it brings)
EXTRAS = {
    "redis": ("redis", ("taskiq", "taskiq_redis", "redis")),
    "rediss": ("redis", ("taskiq", "taskiq_redis", "redis")),
    "amqp": ("rabbitmq", ("taskiq", "taskiq_aio_pika", "aio_pika")),
    "amqps": ("rabbitmq", ("taskiq", "taskiq_aio_pika", "aio_pika")),
}
DISTRIBUTION = "quart-tracked-tasks"


def check_broker(url: str) -> None:
    """Refuse a broker URL that cannot work here, saying what to fix (a ``ValueError``)."""
    scheme = urlsplit(url).scheme
    if scheme not in EXTRAS:
        raise ValueError(
            f"unsupported task broker {url!r}: use redis://host:6379/0 (Redis streams) "
            "or amqp://user:password@host:5672/ (RabbitMQ)"
        )
    extra, modules = EXTRAS[scheme]
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        kind = "a Redis" if extra == "redis" else "a RabbitMQ"
        raise ValueError(
            f"{kind} task broker needs the {extra!r} extra, which is not installed "
            f"(no module named {missing[0]!r}): install {DISTRIBUTION} with it, as "
            f"pip install -e '.[{extra}]' in its clone"
        )


def broker_dispatch(
    url: str,
    *,
    queue: str,
    store: Store,
    poll_interval: float,
    prefetch: int,
    worker: bool = False,
) -> BrokerDispatch:
    """Hand submissions to the broker at ``url`` (connected in the background).

    ``worker``: this process also receives the broker's messages (:func:`broker_worker`),
    which the broker must know before it connects.
    """
    check_broker(url)
    from .broker import BrokerConnection, BrokerDispatch, make_broker

    broker = make_broker(url, queue=queue, prefetch=prefetch)
    broker.is_worker_process = worker
    return BrokerDispatch(BrokerConnection(broker, url), store, poll_interval=poll_interval)


def broker_worker(
    dispatch: BrokerDispatch, take: Callable[[str], Awaitable[None]], *, concurrency: int
) -> BrokerWorker:
    """Receive the broker's messages and run each task through ``take``."""
    from .worker import BrokerWorker

    return BrokerWorker(dispatch.connection, take, concurrency=concurrency)
