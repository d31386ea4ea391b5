"""Graceful shutdown for worker processes of a multi-process Hypercorn server.

With ``workers = N`` Hypercorn's parent process sets a shared shutdown event on SIGTERM, and
as soon as the first worker has exited it sends SIGTERM to the others (twice: once itself,
once more from ``multiprocessing`` at its exit), which have no handler for it: a worker still
draining its tasks would die mid-task. In a worker process this module handles SIGTERM
instead, and the worker's own drain goes on.

A SIGTERM that reaches a worker while the server is not stopping (someone signalled the
worker itself) must stop the whole server, or the parent would replace the worker: the
worker then passes one SIGTERM on to the parent. It passes on nothing once the shared event
is set, and waits a moment first, because a signal sent to the whole process group reaches
the parent too. The parent's handler takes the shared event's lock, which is not
re-entrant: a second SIGTERM arriving while that handler runs would run it again inside
itself and hang the parent for good, and every worker with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from typing import Protocol

__all__ = ["FORWARD_DELAY", "SigtermForwarder", "forward_sigterm"]

log = logging.getLogger("tasks")

#: seconds a worker waits before passing a SIGTERM on, so that the parent, if it was
#: signalled too, has set the shared shutdown event by then
FORWARD_DELAY = 0.25


class ShutdownEvent(Protocol):
    def is_set(self) -> bool: ...


class SigtermForwarder:
    """Decides what a worker does with a SIGTERM: drain with the server, or stop it."""

    def __init__(
        self,
        parent_pid: int,
        shutdown: ShutdownEvent | None,
        *,
        kill: Callable[[int, int], None] = os.kill,
        parent_alive: Callable[[], bool] | None = None,
    ) -> None:
        self.parent_pid = parent_pid
        self._shutdown = shutdown
        self._kill = kill
        self._parent_alive = parent_alive or (lambda: os.getppid() == parent_pid)
        self.forwarded = False

    @property
    def server_stopping(self) -> bool:
        return self._shutdown is not None and self._shutdown.is_set()

    def forward(self) -> bool:
        """Pass one SIGTERM on to the parent, unless the server is stopping already."""
        if self.forwarded or self.server_stopping:
            return False
        self.forwarded = True
        log.info("SIGTERM in worker %d: shutting the server down gracefully", os.getpid())
        self._kill(self.parent_pid, signal.SIGTERM)
        return True

    def parent_gone(self) -> bool:
        return not self._parent_alive()


def forward_sigterm(loop: asyncio.AbstractEventLoop) -> bool:
    """In a worker process, make SIGTERM a graceful server shutdown. True if installed."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return False  # a single process: the server's own signal handling applies
    forwarder = SigtermForwarder(parent.pid, _server_shutdown_event())

    def on_sigterm() -> None:
        if forwarder.parent_gone():
            log.warning("SIGTERM and the server's parent process is gone: exiting now")
            loop.remove_signal_handler(signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        if forwarder.server_stopping:
            log.debug("SIGTERM in worker %d: the server is stopping; draining", os.getpid())
            return
        loop.call_later(FORWARD_DELAY, forwarder.forward)

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        return True
    return False


def _server_shutdown_event() -> ShutdownEvent | None:
    """The event Hypercorn's parent shares with its workers, or None if it cannot be found.

    Hypercorn hands it to the worker function as the keyword argument ``shutdown_event``;
    ``multiprocessing`` keeps a worker's arguments on its process object.
    """
    kwargs = getattr(multiprocessing.current_process(), "_kwargs", None)
    event = kwargs.get("shutdown_event") if isinstance(kwargs, dict) else None
    return event if callable(getattr(event, "is_set", None)) else None
