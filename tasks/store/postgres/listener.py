"""Waking change followers in every process through PostgreSQL ``LISTEN``/``NOTIFY``.

One connection of its own (outside the pool, which must not lose a connection to an idle
wait) listens on its channel (:data:`~.batches.CHANNEL`, or :data:`~.batches.WORK_CHANNEL`)
while anybody watches. Each notification, and
each (re)connection, calls every watcher: after a reconnection, changes made while the
connection was down are found by the watchers' next read, so none is missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

from .batches import CHANNEL

__all__ = ["ChangeListener"]

log = logging.getLogger("tasks")

RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # seconds between reconnection attempts
CONNECT_TIMEOUT = 5  # seconds


class ChangeListener:
    """Calls watchers whenever any process notifies ``channel`` (by default: commits a change
    to the store)."""

    def __init__(
        self,
        url: str,
        where: str,
        channel: str = CHANNEL,
        *,
        heard: Callable[[str | None], None] | None = None,
    ) -> None:
        self._url = url
        self._where = where
        self._channel = channel
        # given each notification's payload before the watchers are called, and None on
        # each (re)connection
        self._heard = heard
        self._watchers: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after each committed change; returns the function that stops it."""
        self._watchers.append(callback)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen())

        def unwatch() -> None:
            if callback in self._watchers:
                self._watchers.remove(callback)

        return unwatch

    async def close(self) -> None:
        task, self._task = self._task, None
        self._watchers.clear()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _listen(self) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT
                ) as conn:
                    await conn.execute(f"LISTEN {self._channel}")
                    delay = RETRY_FIRST
                    if self._heard is not None:
                        self._heard(None)
                    self._call()  # what committed before LISTEN took effect
                    async for notification in conn.notifies():
                        if self._heard is not None:
                            self._heard(notification.payload)
                        self._call()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                log.warning(
                    "listening for task store changes at %s failed (%s); retrying in %.1f s",
                    self._where,
                    exc,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _call(self) -> None:
        for callback in list(self._watchers):
            callback()
